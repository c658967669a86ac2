"""Entry point of a worker process (spawned by `serve`, or run alone by `reelforge worker`)."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading

from ..settings import Settings


def _die_with_parent() -> None:
    # If `serve` is killed outright, its workers must not live on as orphans claiming jobs.
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(processName)s %(name)s %(levelname)s %(message)s")


def worker_main(values: dict, stop=None, index: int = 0) -> None:
    """Run in a spawned child: ``stop`` is the supervisor's event; Ctrl-C is the parent's to handle."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    settings = Settings(overrides=values)
    configure_logging(settings.log_level)
    if settings.torch_threads:
        os.environ.setdefault("OMP_NUM_THREADS", str(settings.torch_threads))
    from .runner import Worker

    stopping = threading.Event()
    if stop is not None:
        threading.Thread(target=lambda: (stop.wait(), stopping.set()), daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    Worker(settings, stopping=stopping).serve_forever()
