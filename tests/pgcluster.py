"""A throwaway PostgreSQL cluster for tests: initdb in a temp dir, start on a free port, stop and remove.

PostgreSQL is required, not optional: when the server binaries are missing this
raises ``PostgresUnavailable`` with what to install, and the fixture fails.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import sqlalchemy as sa

from tests.throwaway import Throwaway, start_with_retries

BINARIES = ("initdb", "pg_ctl", "postgres")
# Durability is pointless for a cluster that lives for one test session.
SETTINGS = """
listen_addresses = '127.0.0.1'
unix_socket_directories = '{sockets}'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
"""


class PostgresUnavailable(RuntimeError):
    pass


def find_bindir() -> Path:
    """The folder holding initdb/pg_ctl/postgres: PATH first, then Debian's versioned folders."""
    found = [shutil.which(b) for b in BINARIES]
    if all(found):
        return Path(found[0]).resolve().parent
    # apt's postgresql package installs here without putting the server binaries on PATH.
    for bindir in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True):
        if all((Path(bindir) / b).exists() for b in BINARIES):
            return Path(bindir)
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found on PATH or in "
        "/usr/lib/postgresql/*/bin. The store tests need a real PostgreSQL 15: "
        "install it with `apt-get install postgresql` (or put its bin folder on PATH)."
    )


def _version(bindir: str) -> int:
    m = re.search(r"/(\d+)/bin$", bindir)
    return int(m.group(1)) if m else 0


def _unprivileged_user() -> pwd.struct_passwd | None:
    """initdb and postgres refuse to run as root; when we are root, run them as someone else."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise PostgresUnavailable("running as root and neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL as")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    env = {**os.environ, "LC_ALL": "C"}
    env.pop("PGDATA", None)
    return env


class PostgresCluster(Throwaway):
    """``start()`` returns a SQLAlchemy URL for the ``postgres`` superuser; ``stop()`` removes everything."""

    def __init__(self) -> None:
        self.bindir = find_bindir()
        self.user = _unprivileged_user()
        self.root = Path(tempfile.mkdtemp(prefix="reelforge-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port: int | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        if self.user is not None:
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)

    def _as_user(self) -> dict:
        if self.user is None:
            return {}
        return {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bindir / args[0]), *args[1:]], capture_output=True, text=True, env=_env(), cwd=self.root,
            **self._as_user(),
        )

    def start(self, attempts: int = 3) -> str:
        try:
            r = self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                          "--locale=C", "--no-sync")
            if r.returncode != 0:
                raise PostgresUnavailable(f"initdb failed in {self.root} (as {self._who()}):\n{r.stdout}{r.stderr}")
            with open(self.data / "postgresql.conf", "a") as f:
                f.write(SETTINGS.format(sockets=self.root))
            start_with_retries(self, self._serve_on_free_port, attempts, PostgresUnavailable,
                               f"postgres (as {self._who()})")
            return self.url
        except BaseException:
            self.stop()
            raise

    def _serve_on_free_port(self) -> bool:
        self.port = _free_port()
        return self._serve()

    def _serve(self, timeout: float = 60) -> bool:
        """Start the postmaster as our own child (not via pg_ctl) so we reap it: PID 1 in a container may not."""
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(
                [str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, env=_env(), cwd=self.root, **self._as_user(),
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                                     connect_timeout=2) as conn:
                    answered = conn.execute("SHOW data_directory").fetchone()[0]
            except psycopg.OperationalError:
                time.sleep(0.05)
                continue
            # A server that answers on our port may be another session's that won the port race.
            if Path(answered) == self.data.resolve():
                return True
            self._halt()
            return False
        self._halt()
        return False

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _ask_to_stop(self) -> None:
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w")

    def _who(self) -> str:
        return self.user.pw_name if self.user is not None else pwd.getpwuid(os.geteuid()).pw_name


def create_database(url: str, name: str) -> str:
    """Create database ``name`` on the server at ``url`` and return a URL for it."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise ValueError(f"database name must be a lowercase identifier, got {name!r}")
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        engine.dispose()
    return sa.make_url(url).set(database=name).render_as_string(hide_password=False)
