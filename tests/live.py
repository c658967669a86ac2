"""A real `reelforge serve` in a subprocess, on a free port, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    def __init__(self, data_dir: Path, *, models_dir: Path | None = None, env: dict[str, str] | None = None,
                 workers: int = 1, database: str | None = None, args: tuple[str, ...] = ()):
        self.data_dir = Path(data_dir)
        self.models_dir = models_dir
        self.extra_env = env or {}
        self.workers = workers
        self.database = database
        self.args = tuple(args)  # further `serve` flags, e.g. ("--public-url", "https://videos.example.com")
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = self.data_dir / f"serve-{self.port}.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> "LiveServer":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("REELFORGE_")}
        env.update({"HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", "REELFORGE_TORCH_THREADS": "1"})
        if self.models_dir is not None:
            env["REELFORGE_MODELS_DIR"] = str(self.models_dir)
        env.update(self.extra_env)
        cmd = [sys.executable, "-m", "reelforge.cli", "serve", "--port", str(self.port), "--data-dir", str(self.data_dir),
               "--workers", str(self.workers)]
        if self.database:
            cmd += ["--database", self.database]
        cmd += self.args
        log = open(self.log_path, "ab")
        # A session of its own so a test can SIGKILL the whole server (API and workers) at once.
        self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.base_url + "/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"serve did not become ready in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL the API and every worker, as a power cut would."""
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
