"""What the throwaway servers of the test session share: start with a retry on fresh ports, and a session fixture."""

from __future__ import annotations

from collections.abc import Callable, Iterator
import shutil
import subprocess
from pathlib import Path

import pytest


class Throwaway:
    """A server process of ours in a temp folder ``root``, logging to ``log``; ``stop()`` ends it and removes the folder."""

    root: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def stop(self) -> None:
        self._halt()
        shutil.rmtree(self.root, ignore_errors=True)

    def _ask_to_stop(self) -> None:
        self.proc.terminate()

    def _force_stop(self) -> None:
        self.proc.kill()

    def _halt(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._ask_to_stop()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self._force_stop()
                self.proc.wait()
        self.proc = None


def start_with_retries(server, serve: Callable[[], bool], attempts: int, unavailable: type[Exception],
                       what: str) -> None:
    """Call ``serve`` up to ``attempts`` times: another process may take a free port before the server binds it.

    On any failure the server is stopped (and its folder removed) before the error goes up."""
    try:
        for _ in range(attempts):
            if serve():
                return
        raise unavailable(f"{what} did not start:\n{server.log.read_text(errors='replace')[-4000:]}")
    except BaseException:
        server.stop()
        raise


def session_server(make: Callable[[], Throwaway], unavailable: type[Exception]) -> Iterator[Throwaway]:
    """Body of a session fixture: a missing server binary fails the test with what to install, not a skip."""
    try:
        server = make()
    except unavailable as e:
        pytest.fail(str(e), pytrace=False)
    try:
        yield server
    finally:
        server.stop()
