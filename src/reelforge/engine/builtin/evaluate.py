"""Score a built-in pipeline on prompts sampled from the world's caption grammar.

    reelforge eval-tiny [--weights DIR] --n 100 [--card]
    (= python -m reelforge.engine.builtin.evaluate ...; default weights: the shipped ones)

Text-to-video: N one-object prompts with free phrasings; each clip is judged from its frames
alone (judge.py) for colour, direction (incl. still), shape and background. Image-to-video: the
world renderer draws a first frame with the object anywhere (the start position is drawn
independently of the motion, so it gives no hint), the pipeline continues it from the prompt; we
report the PSNR of output frame 0 against the input image and how often the object moves as
prompted.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import PIL.Image
import torch

from . import WEIGHTS_DIR, world
from .judge import judge
from .pipeline import BuiltinVideoPipeline


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def _generate(pipe, prompts, seeds, images=None, batch=20, **kw) -> np.ndarray:
    clips = []
    for i in range(0, len(prompts), batch):
        gens = [torch.Generator().manual_seed(s) for s in seeds[i : i + batch]]
        img = None if images is None else images[i : i + batch]
        clips.append(pipe(prompts[i : i + batch], image=img, generator=gens, output_type="np", **kw).frames)
    return np.concatenate(clips)


def evaluate(pipe: BuiltinVideoPipeline, n: int = 100, seed: int = 0, i2v_n: int | None = None,
             num_inference_steps: int = 20, guidance_scale: float = 4.0, batch: int = 20, log: list | None = None) -> dict:
    """Accuracies over ``n`` t2v prompts and ``i2v_n`` (default ``n``) i2v cases; seeded."""
    rng = np.random.default_rng(seed)
    kw = {"num_inference_steps": num_inference_steps, "guidance_scale": guidance_scale}
    scenes = [world.random_scene(rng) for _ in range(n)]
    prompts = [world.caption(s, rng) for s in scenes]
    t0 = time.time()
    clips = _generate(pipe, prompts, [seed * 100_000 + i for i in range(n)], batch=batch, **kw)
    gen_s = (time.time() - t0) / max(n, 1)
    hits = {"colour": 0, "direction": 0, "background": 0, "shape": 0, "all": 0}
    for scene, p, clip in zip(scenes, prompts, clips):
        v, o = judge(clip), scene.objects[0]
        ok = {"colour": v.colour == o.colour, "direction": v.motion == scene.motion,
              "background": v.background == scene.background, "shape": v.shape == o.shape}
        ok["all"] = all(ok.values())
        for k in hits:
            hits[k] += ok[k]
        if log is not None:
            log.append({"mode": "t2v", "prompt": p, "want": [o.colour, o.shape, scene.motion, scene.background],
                        "got": [v.colour, v.shape, v.motion, v.background], "fill": round(v.fill, 3),
                        "top": round(v.top_ratio, 3), "disp": [round(d, 3) for d in v.displacement]})
    result = {f"t2v_{k}": round(h / n, 3) for k, h in hits.items()}
    result["t2v_n"], result["t2v_s_per_clip_batched"] = n, round(gen_s, 3)

    m = n if i2v_n is None else i2v_n
    if m:
        scenes = [world.random_scene(rng) for _ in range(m)]
        firsts = [(world.render(s, rng, free_start=True)[0][0] * 255).round().astype(np.uint8) for s in scenes]
        prompts = [world.caption(s, rng) for s in scenes]
        images = [PIL.Image.fromarray(f) for f in firsts]
        clips = _generate(pipe, prompts, [seed * 100_000 + 50_000 + i for i in range(m)], images=images, batch=batch, **kw)
        psnrs, moved = [], 0
        for scene, first, clip, p in zip(scenes, firsts, clips, prompts):
            psnrs.append(psnr(clip[0], first / 255.0))
            got = judge(clip).motion
            moved += got == scene.motion
            if log is not None:
                log.append({"mode": "i2v", "prompt": p, "want": scene.motion, "got": got, "psnr0": round(psnrs[-1], 2)})
        finite = [x for x in psnrs if np.isfinite(x)]
        result["i2v_n"] = m
        result["i2v_psnr_frame0_db_min"] = round(min(psnrs), 2)
        result["i2v_psnr_frame0_db_mean"] = round(float(np.mean(finite)), 2) if finite else float("inf")
        result["i2v_motion"] = round(moved / m, 3)
    result["steps"], result["guidance_scale"], result["seed"] = num_inference_steps, guidance_scale, seed
    return result


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="reelforge eval-tiny", description=__doc__.split("\n")[0])
    ap.add_argument("--weights", default=str(WEIGHTS_DIR), help="a pipeline folder (save_pretrained); default: the shipped weights")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--i2v-n", type=int, default=None, help="image-to-video cases (default: --n)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--guidance", type=float, default=4.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--log", help="write one JSON line per clip here")
    ap.add_argument("--card", action="store_true", help="write the figures into the folder's model card")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    pipe = BuiltinVideoPipeline.from_pretrained(a.weights).to("cuda" if torch.cuda.is_available() else "cpu")
    pipe.set_progress_bar_config(disable=True)
    log: list = []
    result = evaluate(pipe, n=a.n, seed=a.seed, i2v_n=a.i2v_n, num_inference_steps=a.steps, guidance_scale=a.guidance, log=log)
    print(json.dumps(result, indent=1))
    if a.log:
        Path(a.log).write_text("".join(json.dumps(r) + "\n" for r in log))
    if a.card:
        from .train import write_card

        folder = Path(a.weights)
        write_card(folder, json.loads((folder / "training.json").read_text()), result)


if __name__ == "__main__":
    main()
