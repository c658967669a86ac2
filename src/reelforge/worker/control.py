"""A running job's link to the store: heartbeats, progress and the cancel flag.

A background thread renews the lease and writes progress about once per
``progress_interval`` (so a slow step never lets the lease lapse), and it reads
back the cancel flag. The pipeline's per-step callback only compares flags, so
checking for cancellation costs nothing between steps.
"""

from __future__ import annotations

import threading
import time

from ..errors import JobCancelled, LeaseLost, WorkerStopping
from ..store import JobStore


class JobControl:
    def __init__(
        self, store: JobStore, job_id: str, worker_id: str, *, lease_seconds: float, interval: float,
        stopping: threading.Event | None = None, steps: int = 0,
    ):
        self.store = store
        self.job_id = job_id
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self.interval = min(interval, lease_seconds / 3)
        self.stopping = stopping
        self.progress = 0
        self.eta_at: float | None = None
        self._first_tick: tuple[float, int] | None = None
        # The first ``steps`` ticks of a job are denoising steps (of its first stage, for chained or
        # two-stage models); the time between the first and the last of them gives seconds per step.
        self.steps = steps
        self._step_ticks: list[float] = []
        self.cancelled = threading.Event()
        self.lost = threading.Event()
        self._done = threading.Event()
        self._written = -1
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{job_id[:8]}", daemon=True)

    def __enter__(self) -> "JobControl":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._done.wait(self.interval):
            self.beat()

    def beat(self) -> None:
        progress = self.progress if self.progress != self._written else None
        hb = self.store.heartbeat(
            self.job_id, self.worker_id, progress=progress, lease_seconds=self.lease_seconds, eta_at=self.eta_at)
        if progress is not None:
            self._written = progress
        if not hb.owned:
            self.lost.set()
        elif hb.cancel_requested:
            self.cancelled.set()

    def check(self) -> None:
        if self.lost.is_set():
            raise LeaseLost("The lease on this job was lost; another worker may own it now.")
        if self.cancelled.is_set():
            raise JobCancelled("Cancelled by request.")
        if self.stopping is not None and self.stopping.is_set():
            raise WorkerStopping("The worker is stopping.")

    def set_progress(self, percent: int) -> None:
        self.progress = max(self.progress, min(99, int(percent)))

    def on_step(self, done: int, total: int) -> None:
        # Steps and decode ticks are the first 90%; encoding and storing fill the rest.
        self.set_progress(90 * done / max(total, 1))
        if done <= self.steps:
            self._step_ticks.append(time.perf_counter())
        self._estimate(done, total)
        self.check()

    @property
    def step_seconds(self) -> float | None:
        """Mean seconds per denoising step, once two steps have ticked."""
        ticks = self._step_ticks
        return (ticks[-1] - ticks[0]) / (len(ticks) - 1) if len(ticks) >= 2 else None

    def _estimate(self, done: int, total: int) -> None:
        """ETA from the measured pace since the first tick; loading and text encoding come before
        the first tick, so they do not inflate the per-step time."""
        now = time.monotonic()
        if self._first_tick is None:
            self._first_tick = (now, done)
            return
        start, first = self._first_tick
        if done > first:
            per_tick = (now - start) / (done - first)
            self.eta_at = time.time() + per_tick * max(total - done, 0)
