"""``reelforge bench``: our engine path against a plain diffusers call, side by side.

For one catalog model it builds the pipeline (at its full published architecture with random
weights, or with ``tiny=True`` on the family's tiny random builder), then times the same request
two ways on the same pipeline objects:

* ``ours``: ``adapter.generate(req, on_step)``, what a worker runs, with our progress callback;
* ``plain``: the diffusers pipeline called directly with the same inputs (``plain.py``).

It reports seconds/step, seconds/video and peak memory per path (medians over alternating runs
after a warm-up) and their ratio ours / plain. It measures; it asserts nothing about speed.

With ``tier`` ("exact" or "fast", engine/speed.py) our path runs at that speed tier, and the report
adds the PSNR of our frames against plain diffusers' on the same seed (inf: bit-identical).

Modules: ``published`` (stored configs -> components), ``subjects`` (the adapter and the request),
``plain`` (the baseline call), ``measure`` (clocks, memory, the loop), ``report`` (table and JSON).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import dataclasses

import numpy as np

from ...catalog import Catalog
from ...catalog.weights import BUILTIN_PREFIX
from .. import speed as speeds
from ..adapters.base import to_uint8_frames
from ..device import select_device
from .measure import PeakMemory, StepClock, side_by_side
from .plain import plain_call, steps_before_denoising
from .report import BenchReport
from .subjects import bench_request, describe, full_adapter, tiny_adapter

__all__ = ["BenchReport", "psnr", "run_bench"]


def run_bench(catalog: Catalog, model: str, *, tiny: bool = False, device: str = "auto", steps: int | None = None,
              frames: int | None = None, size: str | None = None, repeats: int = 3,
              tier: str | None = None) -> BenchReport:
    """Bench ``model`` (a catalog id or alias); raises ``ValueError`` for impossible settings and the
    engine's own errors (``ModelNotFound``, ``ModelUnavailable``, ``GenerationFailed``) unchanged."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if steps is not None and steps < 2:
        raise ValueError(f"steps must be >= 2 (a step time needs two step stamps), got {steps}")
    entry = catalog.resolve(model)
    if tier is not None and tier not in entry.speeds:
        raise ValueError(f"model '{entry.id}' (family {entry.family}) has no {tier!r} tier; it has: "
                         f"{', '.join(entry.speeds)}")
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
        req = dataclasses.replace(req, speed=tier or "exact")
        last: dict[str, np.ndarray] = {}
        applied: dict = {}

        def ours():
            with speeds.applied(adapter, req.speed, dev, threshold=speeds.threshold_for(entry)) as done:
                applied.update(done)
                last["ours"] = adapter.generate(req, clock.on_step)

        def baseline():
            last["plain"] = plain(clock.callback)

        runs = side_by_side({"ours": ours, "plain": baseline}, clock, memory, steps_before_denoising(adapter, req),
                            req.num_inference_steps, repeats)
    info = {
        **describe(entry, tiny), "device": str(dev), "dtype": str(dtype).removeprefix("torch."),
        "build_seconds": build_seconds, "width": req.width, "height": req.height, "frames": req.num_frames,
        "steps": req.num_inference_steps, "guidance": req.guidance_scale, "seed": req.seed,
        "image_input": req.image is not None, "repeats": repeats, "memory": memory.kind,
    }
    if tier is not None:
        info.update(tier=tier, applied=applied, psnr_db=psnr(last["ours"], _frames(last["plain"], req)))
    return BenchReport(info, runs)


def _frames(output, req) -> np.ndarray:
    """A plain pipeline output (``output_type="np"``) as our uint8 frames."""
    return to_uint8_frames(output.frames, req)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR of two uint8 videos in dB; inf when they are identical."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * float(np.log10(255.0 ** 2 / mse))
