"""Time one default clip of the built-in model (native size, default steps and guidance, CFG on).

    python bench/tiny_clip.py [--weights DIR] [--threads 2]

Prints the median of 5 timed runs after one warm-up, in seconds.
"""

import argparse
import statistics
import time

import torch

from reelforge.engine.builtin import WEIGHTS_DIR
from reelforge.engine.builtin.pipeline import BuiltinVideoPipeline


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", default=str(WEIGHTS_DIR))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    pipe = BuiltinVideoPipeline.from_pretrained(a.weights)
    pipe.set_progress_bar_config(disable=True)
    prompt = "a red circle moving right on a black background"
    pipe(prompt, generator=torch.Generator().manual_seed(0))  # warm-up
    times = []
    for i in range(a.runs):
        t0 = time.perf_counter()
        pipe(prompt, generator=torch.Generator().manual_seed(i))
        times.append(time.perf_counter() - t0)
    print(f"default clip ({pipe.num_timesteps} steps, CFG on, native size): median {statistics.median(times):.3f} s "
          f"over {a.runs} runs (min {min(times):.3f}, max {max(times):.3f}), {a.threads} threads")


if __name__ == "__main__":
    main()
