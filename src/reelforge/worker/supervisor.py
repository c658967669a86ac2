"""Start worker processes with ``spawn`` and keep them running.

``spawn`` (never fork) because a worker initialises torch/CUDA, and forking
after that is unsafe; it also keeps torch out of the API process entirely.
A worker that dies (OOM, a native crash) is restarted; its job's lease expires
and the job is requeued, so nothing is lost.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import threading
import time

from ..settings import Settings

log = logging.getLogger("reelforge.supervisor")


class Supervisor:
    def __init__(self, settings: Settings, count: int):
        self.settings = settings
        self.count = count
        self.ctx = mp.get_context("spawn")
        self.stop = self.ctx.Event()
        self.procs: list[mp.process.BaseProcess] = []
        self._monitor = threading.Thread(target=self._watch, name="supervisor", daemon=True)

    def _spawn(self, index: int):
        from .main import worker_main

        p = self.ctx.Process(
            target=worker_main, args=(self.settings.values(), self.stop, index), name=f"reelforge-worker-{index}", daemon=False
        )
        p.start()
        return p

    def start(self) -> "Supervisor":
        self.procs = [self._spawn(i) for i in range(self.count)]
        self._monitor.start()
        return self

    def _watch(self) -> None:
        while not self.stop.wait(1.0):
            for i, p in enumerate(self.procs):
                if not p.is_alive() and not self.stop.is_set():
                    log.error("worker %d exited with code %s; restarting it", i, p.exitcode)
                    time.sleep(1.0)  # don't spin if it dies at start-up
                    self.procs[i] = self._spawn(i)

    def shutdown(self, timeout: float = 15.0) -> None:
        self.stop.set()
        deadline = time.monotonic() + timeout
        for p in self.procs:
            p.join(max(0.0, deadline - time.monotonic()))
        for p in self.procs:
            if p.is_alive():
                p.terminate()
                p.join(5)
