"""Train the built-in model on the procedural world (CPU by default, CUDA when present).

    reelforge train-tiny --out DIR --steps N [--batch-size 16 --threads 2 --seed 0]
    (= python -m reelforge.engine.builtin.train ...)

Rectified flow: x_s = (1 - s) x0 + s eps; the network predicts x0 (see model.py). Noise levels s
are logit-normal with a positive mean, biased to high noise where layout and trajectory are
decided, plus 40% uniform draws so the last sampling steps are trained too. The loss is MSE on x0
weighted towards the object's pixels, plus MSE on its temporal and spatial differences. Captions
are dropped 10% of the time (classifier-free guidance) and 35% of the clips get their clean first
frame as input (image-to-video).
Every ``--checkpoint-every`` steps it writes ``checkpoint.pt`` (full state; rerunning the same
command resumes from it) and an EMA pipeline folder ``ckpt-<step>`` that evaluate.py can score.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from . import world
from .pipeline import BuiltinVideoPipeline, new_pipeline


def _ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    with torch.no_grad():
        for e, p in zip(ema.parameters(), model.parameters()):
            e.lerp_(p, 1 - decay)


def hardware() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores visible)"


def save_pipeline(text_encoder, denoiser, scheduler, path: Path, fp16: bool = True) -> BuiltinVideoPipeline:
    """Save EMA copies as a pipeline folder; fp16 on disk keeps the shipped weights small."""
    te, dn = copy.deepcopy(text_encoder).cpu(), copy.deepcopy(denoiser).cpu()
    if fp16:
        te, dn = te.half(), dn.half()
    pipe = BuiltinVideoPipeline(text_encoder=te, denoiser=dn, scheduler=scheduler)
    pipe.save_pretrained(path)
    return pipe


def train(out_dir: str | Path, steps: int, seed: int = 0, batch_size: int = 16, threads: int = 2, lr: float = 1e-3,
          channels: tuple[int, int, int] = (48, 96, 128), patch: int = 4, checkpoint_every: int = 500, log_every: int = 50,
          p_i2v: float = 0.35, p_drop: float = 0.1, p_two: float = 0.2, noise_mean: float = 0.5, noise_uniform: float = 0.4,
          fg_weight: float = 4.0, temporal_weight: float = 2.0, edge_weight: float = 1.0, ema_decay: float = 0.999, init_from: str | Path | None = None) -> Path:
    """Train (or resume) into ``out_dir``; returns the final pipeline folder (``out_dir`` itself)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)

    pipe = new_pipeline(channels=channels, patch=patch)
    text_encoder, denoiser = pipe.text_encoder.to(device), pipe.denoiser.to(device)
    params = list(text_encoder.parameters()) + list(denoiser.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    ema_te, ema_dn = copy.deepcopy(text_encoder).eval(), copy.deepcopy(denoiser).eval()
    step, elapsed, history = 0, 0.0, []

    ckpt_path = out / "checkpoint.pt"
    if init_from and not ckpt_path.exists():
        # Warm start from another run's weights (model and EMA, not optimiser or step): modules the
        # older network lacked keep their (zero-output) initialisation.
        state = torch.load(init_from, map_location=device, weights_only=False)
        for module, key in ((text_encoder, "text_encoder"), (denoiser, "denoiser"), (ema_te, "ema_text_encoder"), (ema_dn, "ema_denoiser")):
            missing, unexpected = module.load_state_dict(state[key], strict=False)
            assert not unexpected, unexpected
        print(f"warm start from {init_from} (step {state['step']}); new: {missing}", flush=True)
    if ckpt_path.exists():
        state = torch.load(ckpt_path, map_location=device, weights_only=False)
        text_encoder.load_state_dict(state["text_encoder"])
        denoiser.load_state_dict(state["denoiser"])
        ema_te.load_state_dict(state["ema_text_encoder"])
        ema_dn.load_state_dict(state["ema_denoiser"])
        opt.load_state_dict(state["opt"])
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        step, elapsed, history = state["step"], state["elapsed"], state["history"]
        print(f"resumed at step {step}", flush=True)

    def checkpoint() -> None:
        state = {
            "text_encoder": text_encoder.state_dict(), "denoiser": denoiser.state_dict(),
            "ema_text_encoder": ema_te.state_dict(), "ema_denoiser": ema_dn.state_dict(),
            "opt": opt.state_dict(), "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
            "step": step, "elapsed": elapsed, "history": history,
        }
        torch.save(state, out / "checkpoint.tmp")
        os.replace(out / "checkpoint.tmp", ckpt_path)  # atomic: a kill mid-save never loses the run
        folder = out / f"ckpt-{step}"
        save_pipeline(ema_te, ema_dn, pipe.scheduler, folder)
        write_card(folder, card_facts())

    def card_facts() -> dict:
        n_params = sum(p.numel() for p in params)
        return {
            "steps": step, "batch_size": batch_size, "seed": seed, "threads": threads, "lr": lr,
            "channels": list(channels), "patch": patch, "noise_uniform": noise_uniform, "temporal_weight": temporal_weight, "edge_weight": edge_weight, "p_i2v": p_i2v, "init_from": str(init_from) if init_from else None, "parameters": n_params, "wall_time_s": round(elapsed, 1),
            "s_per_step": round(elapsed / max(step, 1), 3), "hardware": hardware(), "torch": torch.__version__,
            "final_loss": history[-1]["loss"] if history else None,
        }

    running, t0 = 0.0, time.time()
    while step < steps:
        videos, cover, captions, _ = world.batch(rng, batch_size, p_two=p_two)
        x0 = torch.from_numpy(videos).permute(0, 4, 1, 2, 3).to(device) * 2 - 1  # (B, 3, T, H, W)
        weight = 1 + fg_weight * torch.from_numpy(cover).unsqueeze(1).to(device)
        b = x0.shape[0]

        sigma = torch.sigmoid(torch.randn(b, device=device) + noise_mean)
        if noise_uniform > 0:  # a share of uniform levels: the logit-normal alone almost never
            # draws s < 0.1, which leaves visible noise in the last sampling steps
            uniform = torch.rand(b, device=device) < noise_uniform
            sigma = torch.where(uniform, torch.rand(b, device=device), sigma)
        eps = torch.randn_like(x0)
        s = sigma.view(b, 1, 1, 1, 1)
        x_t = (1 - s) * x0 + s * eps
        text = text_encoder.encode(captions)
        drop = torch.rand(b, 1, device=device) < p_drop
        text = torch.where(drop, text_encoder.null_embedding(b), text)
        i2v = (torch.rand(b, device=device) < p_i2v).float()
        pred = denoiser(x_t, sigma * 1000, text, x0[:, :, 0], i2v)
        err = pred - x0
        loss = (weight * err**2).mean() / weight.mean()
        # Errors in the temporal and spatial differences: same optimum as plain MSE (differences are
        # linear), but it weighs what the per-pixel loss drowns in flat background: where the object
        # moves (the sign of motion) and its edges (its shape).
        loss = loss + temporal_weight * ((err[:, :, 1:] - err[:, :, :-1]) ** 2).mean()
        loss = loss + edge_weight * (((err[..., 1:, :] - err[..., :-1, :]) ** 2).mean() + ((err[..., 1:] - err[..., :-1]) ** 2).mean())

        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (step + 1) / 200)  # warm-up, then constant (EMA smooths the end)
        opt.step()
        step += 1
        decay = min(ema_decay, (1 + step) / (10 + step))
        _ema_update(ema_te, text_encoder, decay)
        _ema_update(ema_dn, denoiser, decay)

        running += loss.item()
        if step % log_every == 0:
            now = time.time()
            elapsed += now - t0
            t0 = now
            history.append({"step": step, "loss": round(running / log_every, 5), "elapsed_s": round(elapsed, 1)})
            print(json.dumps(history[-1]), flush=True)
            running = 0.0
        if step % checkpoint_every == 0 or step == steps:
            elapsed += time.time() - t0
            t0 = time.time()
            checkpoint()

    save_pipeline(ema_te, ema_dn, pipe.scheduler, out)
    write_card(out, card_facts())
    return out


def write_card(folder: Path, training: dict, evaluation: dict | None = None) -> None:
    """The model card: how the weights were made and, once measured, how they score."""
    (folder / "training.json").write_text(json.dumps(training, indent=1))
    lines = [
        "# reelforge built-in tiny video model",
        "",
        f"A {training['parameters'] / 1e6:.2f}M-parameter text-to-video / image-to-video rectified-flow model trained from",
        "scratch on reelforge's procedural world (one or two circles, squares, triangles or stars in 8 colours, moving",
        "left/right/up/down or still, on black/gray/white/navy). Native size 32x32, 8 frames; larger sizes are",
        "bicubically upscaled and other frame counts linearly resampled in time. It can only draw that world.",
        "",
        "## Training",
        "",
    ]
    if "stages" not in training:
        lines += ["Reproduce with `reelforge train-tiny --out DIR --steps "
                  f"{training['steps']} --batch-size {training['batch_size']} --threads {training['threads']} --seed {training['seed']}`"
                  " (the learning rate is constant after warm-up, so the first N steps of a longer run are the same run).", ""]
    for k, v in training.items():
        lines += [f"- {k}:"] + [f"  - {x}" for x in v] if isinstance(v, list) and k == "stages" else [f"- {k}: {v}"]
    if evaluation:
        lines += ["", "## Evaluation (`reelforge eval-tiny --weights DIR --n N --card`)", ""]
        lines += [f"- {k}: {v}" for k, v in evaluation.items()]
    (folder / "README.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="reelforge train-tiny", description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--channels", default="48,96,128")
    ap.add_argument("--patch", type=int, default=4)
    ap.add_argument("--checkpoint-every", type=int, default=500)
    ap.add_argument("--init-from", help="checkpoint.pt of an earlier run to warm-start from")
    ap.add_argument("--p-i2v", type=float, default=0.35, help="share of clips given their first frame")
    ap.add_argument("--noise-uniform", type=float, default=0.4, help="share of uniformly drawn noise levels")
    a = ap.parse_args(argv)
    train(a.out, a.steps, seed=a.seed, batch_size=a.batch_size, threads=a.threads, lr=a.lr,
          channels=tuple(int(c) for c in a.channels.split(",")), patch=a.patch, checkpoint_every=a.checkpoint_every,
          noise_uniform=a.noise_uniform, init_from=a.init_from, p_i2v=a.p_i2v)


if __name__ == "__main__":
    main()
