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
    """A worker, spawned by `serve` (``stop`` is its supervisor's event) or alone (`reelforge worker`).

    A spawned worker dies with `serve` and leaves Ctrl-C to it. A standalone worker is a long-lived
    process: it outlives the shell that started it (no parent-death signal, SIGHUP ignored), and
    SIGTERM or Ctrl-C drains it (see ``drain``)."""
    spawned = stop is not None
    if spawned:
        _die_with_parent()
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    settings = Settings(overrides=values)
    configure_logging(settings.log_level)
    if settings.torch_threads:
        os.environ.setdefault("OMP_NUM_THREADS", str(settings.torch_threads))
    from .runner import Worker

    stopping, draining = threading.Event(), threading.Event()
    if spawned:
        threading.Thread(target=lambda: (stop.wait(), stopping.set()), daemon=True).start()

    def drain(*_) -> None:
        # Claim nothing more; the job in hand may finish within drain_seconds, after which (or on a
        # second signal) it is handed back to the queue at its next step, for another worker.
        if draining.is_set():
            stopping.set()
            return
        draining.set()
        logging.getLogger("reelforge.worker").info(
            "draining: finishing the current job, handing it back after %.0f s", settings.drain_seconds)
        timer = threading.Timer(settings.drain_seconds, stopping.set)
        timer.daemon = True
        timer.start()

    signal.signal(signal.SIGTERM, drain)
    if not spawned:
        signal.signal(signal.SIGINT, drain)
    Worker(settings, stopping=stopping, draining=draining).serve_forever()
