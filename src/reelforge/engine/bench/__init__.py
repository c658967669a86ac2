"""``reelforge bench``: our engine path against a plain diffusers call, side by side.

For one catalog model it builds the pipeline (at its full published architecture with random
weights, or with ``tiny=True`` on the family's tiny random builder), then times the same request
two ways on the same pipeline objects:

* ``ours``: ``adapter.generate(req, on_step)``, what a worker runs, with our progress callback;
* ``plain``: the diffusers pipeline called directly with the same inputs (``plain.py``).

It reports seconds/step, seconds/video and peak memory per path (medians over alternating runs
after a warm-up) and their ratio ours / plain. It measures; it asserts nothing about speed.

Modules: ``published`` (stored configs -> components), ``subjects`` (the adapter and the request),
``plain`` (the baseline call), ``measure`` (clocks, memory, the loop), ``report`` (table and JSON).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from ...catalog import Catalog
from ...catalog.weights import BUILTIN_PREFIX
from ..device import select_device
from .measure import PeakMemory, StepClock, side_by_side
from .plain import plain_call, steps_before_denoising
from .report import BenchReport
from .subjects import bench_request, describe, full_adapter, tiny_adapter

__all__ = ["BenchReport", "run_bench"]


def run_bench(catalog: Catalog, model: str, *, tiny: bool = False, device: str = "auto", steps: int | None = None,
              frames: int | None = None, size: str | None = None, repeats: int = 3) -> BenchReport:
    """Bench ``model`` (a catalog id or alias); raises ``ValueError`` for impossible settings and the
    engine's own errors (``ModelNotFound``, ``ModelUnavailable``, ``GenerationFailed``) unchanged."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if steps is not None and steps < 2:
        raise ValueError(f"steps must be >= 2 (a step time needs two step stamps), got {steps}")
    entry = catalog.resolve(model)
    dev, dtype = select_device(device)
    # A builtin source is already its own full architecture, and tiny.
    tiny = tiny or entry.source.startswith(BUILTIN_PREFIX)
    req = bench_request(entry, tiny=tiny, steps=steps, frames=frames, size=size)
    with tempfile.TemporaryDirectory(prefix="reelforge-bench-") as models_dir:
        start = time.perf_counter()
        adapter = tiny_adapter(entry, Path(models_dir), dev, dtype) if tiny else full_adapter(entry, dev, dtype)
        build_seconds = time.perf_counter() - start
        clock, memory = StepClock(dev), PeakMemory(dev)
        plain = plain_call(adapter, req)
        runs = side_by_side(
            {"ours": lambda: adapter.generate(req, clock.on_step), "plain": lambda: plain(clock.callback)},
            clock, memory, steps_before_denoising(adapter, req), req.num_inference_steps, repeats,
        )
    info = {
        **describe(entry, tiny), "device": str(dev), "dtype": str(dtype).removeprefix("torch."),
        "build_seconds": build_seconds, "width": req.width, "height": req.height, "frames": req.num_frames,
        "steps": req.num_inference_steps, "guidance": req.guidance_scale, "seed": req.seed,
        "image_input": req.image is not None, "repeats": repeats, "memory": memory.kind,
    }
    return BenchReport(info, runs)
