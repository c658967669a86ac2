"""Draw a PNG grid of frames made by a built-in pipeline: one row per prompt, one column per frame.

    python -m reelforge.engine.builtin.grid --out docs/builtin-grid.png [--weights DIR] [--seed 0]

The README's picture is made this way from the shipped weights, with the default prompts below.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import PIL.Image
import PIL.ImageDraw
import torch

from . import WEIGHTS_DIR
from .pipeline import BuiltinVideoPipeline

PROMPTS = (
    "a red circle moving right on a black background",
    "a yellow star falling on a navy background",
    "green box moving left on gray",
    "a white triangle rises against a black backdrop",
    "an orange ball standing still on a white background",
    "a purple star and a cyan square drifting left on black",
)


def grid(pipe: BuiltinVideoPipeline, prompts: tuple[str, ...] = PROMPTS, seed: int = 0, cell: int = 96,
         label_height: int = 18) -> PIL.Image.Image:
    frames = pipe(list(prompts), generator=[torch.Generator().manual_seed(seed + i) for i in range(len(prompts))],
                  height=cell, width=cell, output_type="np").frames
    n, t = frames.shape[:2]
    row_h = cell + label_height
    sheet = PIL.Image.new("RGB", (t * cell, n * row_h), (24, 24, 24))
    draw = PIL.ImageDraw.Draw(sheet)
    for r, (prompt, clip) in enumerate(zip(prompts, frames)):
        draw.text((4, r * row_h + 3), f'"{prompt}"  (seed {seed + r}, frames 0-{t - 1})', fill=(230, 230, 230))
        for c, frame in enumerate(clip):
            tile = PIL.Image.fromarray((np.clip(frame, 0, 1) * 255).round().astype(np.uint8))
            sheet.paste(tile, (c * cell, r * row_h + label_height))
    return sheet


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--weights", default=str(WEIGHTS_DIR))
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    pipe = BuiltinVideoPipeline.from_pretrained(a.weights)
    pipe.set_progress_bar_config(disable=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    grid(pipe, seed=a.seed).save(a.out, optimize=True)


if __name__ == "__main__":
    main()
