"""Timing and memory of one generation, and the side-by-side loop.

* Step time: both paths stamp ``time.perf_counter()`` at the end of every denoising step, ours from
  the adapter's ``on_step`` (behind our progress callback), the plain call from a bare
  ``callback_on_step_end``. A step has no start stamp of its own and the first one also carries
  the prompt encoding, so seconds/step is the mean of steps 2..N: (last - first) / (N - 1).
* On CUDA every stamp first waits for the queued kernels (``torch.cuda.synchronize``), in both
  paths alike; otherwise it would time kernel launches, not the step.
* Seconds/video: wall time of the whole call, from the request to frames in memory (prompt
  encoding, denoising, VAE decode, and for our path the uint8 conversion and checks).
* Peak memory: CUDA: ``torch.cuda.max_memory_allocated`` (reset before each run). CPU: the
  process's peak resident set size, VmHWM in /proc/self/status, reset before each run by writing
  5 to /proc/self/clear_refs (Linux >= 4.0); it includes the loaded weights. Where that reset is
  not possible, ``getrusage``'s ru_maxrss, which is the peak of the whole process so far.
"""

from __future__ import annotations

import gc
import re
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch


class StepClock:
    """Collects the end time of each step."""

    def __init__(self, device: torch.device):
        self._sync = torch.cuda.synchronize if device.type == "cuda" else None
        self.stamps: list[float] = []

    def wait(self) -> None:
        if self._sync is not None:
            self._sync()

    def tick(self) -> None:
        self.wait()
        self.stamps.append(time.perf_counter())

    def on_step(self, done: int, total: int) -> None:
        """Our path's ``on_step(done, total)``."""
        self.tick()

    def callback(self, pipe, step: int, timestep, callback_kwargs: dict) -> dict:
        """The plain path's ``callback_on_step_end``: the stamp and nothing else."""
        self.tick()
        return callback_kwargs


_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


class PeakMemory:
    """Peak memory of one run on ``device``, in bytes; ``kind`` says what is measured."""

    def __init__(self, device: torch.device):
        self.device = device
        if device.type == "cuda":
            self.kind = "CUDA max_memory_allocated, reset before each run"
        elif self._can_reset_rss():
            self.kind = "peak RSS of the process (VmHWM), reset before each run; includes the weights"
        else:
            self.kind = "peak RSS of the process so far (ru_maxrss); NOT reset between runs"

    @staticmethod
    def _can_reset_rss() -> bool:
        try:
            _CLEAR_REFS.write_text("5")
            return "VmHWM" in _STATUS.read_text()
        except OSError:
            return False

    def reset(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        elif self.kind.startswith("peak RSS of the process (VmHWM)"):
            _CLEAR_REFS.write_text("5")

    def peak(self) -> int:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            return int(torch.cuda.max_memory_allocated())
        match = re.search(r"VmHWM:\s+(\d+)\s*kB", _STATUS.read_text()) if _STATUS.exists() else None
        if match:
            return int(match.group(1)) * 1024
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return rss if sys.platform == "darwin" else rss * 1024  # bytes on macOS, KiB on Linux


@dataclass(frozen=True)
class Run:
    seconds_per_step: float | None
    seconds_per_video: float
    peak_bytes: int


def measure(run: Callable[[], Any], clock: StepClock, memory: PeakMemory, first_step: int, steps: int) -> Run:
    """Time one call of ``run``; its denoising steps are stamps ``first_step .. first_step + steps``."""
    gc.collect()
    memory.reset()
    clock.stamps.clear()
    start = time.perf_counter()
    run()
    clock.wait()
    seconds = time.perf_counter() - start
    stamps = clock.stamps[first_step:first_step + steps]
    per_step = (stamps[-1] - stamps[0]) / (len(stamps) - 1) if len(stamps) >= 2 else None
    return Run(per_step, seconds, memory.peak())


def side_by_side(paths: dict[str, Callable[[], Any]], clock: StepClock, memory: PeakMemory, first_step: int,
                 steps: int, repeats: int) -> dict[str, list[Run]]:
    """One untimed warm-up per path, then ``repeats`` rounds of every path.

    The order flips every round (ours, plain / plain, ours ...), so neither path always runs on the
    caches or the clock speed the other one left behind.
    """
    names = list(paths)
    for name in names:
        measure(paths[name], clock, memory, first_step, steps)
    runs: dict[str, list[Run]] = {name: [] for name in names}
    for i in range(repeats):
        for name in (names if i % 2 == 0 else names[::-1]):
            runs[name].append(measure(paths[name], clock, memory, first_step, steps))
    return runs
