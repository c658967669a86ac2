"""Time one default clip of the built-in model, against the 3 s budget, side by side:

  * native: the pipeline alone at 32x32x8, 20 steps, CFG on (what the model itself costs);
  * service default: what `reelforge generate "..."` renders with no options (catalog defaults:
    720x1280, 4 s at 8 fps = 32 frames), through the production loader and the `tiny` adapter,
    upscaling and time resampling included (mp4 encoding excluded).

    python bench/tiny_clip.py [--weights DIR] [--threads 2] [--runs 5]

Prints the median of ``--runs`` timed runs after one warm-up, and its ratio to the budget.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from reelforge.catalog import Catalog
from reelforge.engine.adapters.base import GenerateRequest
from reelforge.engine.builtin import WEIGHTS_DIR
from reelforge.engine.builtin.pipeline import BuiltinVideoPipeline
from reelforge.engine.loader import load_adapter
from reelforge.service.specs import VideoRequest, build_spec

BUDGET_S = 3.0
PROMPT = "a red circle moving right on a black background"


def timed(fn, runs: int) -> list[float]:
    fn(0)  # warm-up
    times = []
    for i in range(runs):
        t0 = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", default=str(WEIGHTS_DIR))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    pipe = BuiltinVideoPipeline.from_pretrained(a.weights)
    pipe.set_progress_bar_config(disable=True)

    catalog = Catalog()
    entry = catalog.resolve(None)
    spec = build_spec(catalog, VideoRequest(prompt=PROMPT, seed=0))
    with tempfile.TemporaryDirectory() as models:
        adapter = load_adapter(entry, Path(models), torch.device("cpu"), torch.float32)
    req = GenerateRequest.from_spec(spec, entry)

    rows = [
        ("native 32x32x8", timed(lambda i: pipe(PROMPT, generator=torch.Generator().manual_seed(i)), a.runs)),
        (f"service default {req.width}x{req.height}x{req.num_frames}",
         timed(lambda i: adapter.generate(GenerateRequest(**{**req.__dict__, "seed": i}), lambda d, t: None), a.runs)),
    ]
    print(f"{entry.id}, {spec.num_inference_steps} steps, guidance {spec.guidance_scale}, {a.threads} threads, "
          f"median of {a.runs} after a warm-up")
    for name, times in rows:
        med = statistics.median(times)
        print(f"  {name:<32} {med:6.3f} s  (min {min(times):.3f}, max {max(times):.3f})  "
              f"ratio to the {BUDGET_S:.0f} s budget: {med / BUDGET_S:.2f}")


if __name__ == "__main__":
    main()
