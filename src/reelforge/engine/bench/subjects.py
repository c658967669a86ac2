"""What a bench runs: the production adapter for a catalog model, and the request it gets.

Two ways to get weights, neither of which downloads anything:

* ``--tiny``: the family's tiny random builder (``catalog.weights.BUILDERS``) writes a diffusers folder
  to a temp dir and the production ``load_adapter`` loads it, exactly as a worker loads weights.
* full size: the model's published architecture (``published.py``), random weights built on the
  target device, handed to the adapter's constructor. Every adapter takes an in-memory pipeline,
  so no 30 GB ``save_pretrained`` round trip is needed; the per-component dtypes and the catalog
  settings that the adapters' ``load`` would apply are applied here (``_FULL`` below), and the
  entry's memory policy (offload, VAE tiling) as the loader applies it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

import torch
from PIL import Image

from ...catalog import ModelEntry, parse_size
from ...catalog.weights import BUILTIN_PREFIX
from ...errors import ModelUnavailable
from ...jobs import Task
from ..adapters.base import Adapter, GenerateRequest
from ..loader import load_adapter
from ..memory import apply_memory_policy, load_device
from .published import build_components, build_model, build_pipeline, published_root, weight_bytes

PROMPT = "a red fox running through fresh snow at sunrise, cinematic, slow motion"
NEGATIVE_PROMPT = "blurry, low quality, static"

# Published model -> the tiny builder with its family's layout (t2v, i2v, two experts, ...).
TINY_BUILDERS: dict[str, str] = {
    "ltx-video": "ltx-tiny-random",
    "wan2.1-t2v-1.3b": "wan-tiny-random",
    "wan2.1-t2v-14b": "wan-tiny-random",
    # No tiny two-expert t2v layout exists; the single-expert one has the same per-step work.
    "wan2.2-t2v-a14b": "wan-tiny-random",
    "wan2.1-i2v-14b-480p": "wan-i2v-tiny-random",
    "wan2.1-i2v-14b-720p": "wan-i2v-tiny-random",
    "wan2.1-flf2v-14b-720p": "wan-flf2v-tiny-random",
    "wan2.2-i2v-a14b": "wan22-i2v-tiny-random",
    "wan2.2-ti2v-5b": "wan22-ti2v-tiny-random",
    "cogvideox-2b": "cogvideox-tiny-random",
    "cogvideox-5b": "cogvideox-tiny-random",
    "cogvideox-5b-i2v": "cogvideox-i2v-tiny-random",
    "hunyuanvideo": "hunyuan-tiny-random",
    "animatediff-v1-5-2": "animatediff-tiny-random",
    "svd": "svd-tiny-random",
    "svd-xt": "svd-tiny-random",
    "fast-svd": "svd-tiny-random",
}
TINY_T2I = "sd-tiny-random"  # fast-svd's first stage
TINY_STEPS = 4
TINY_MIN_FRAMES = 5
TINY_SIDE = 256


def tiny_adapter(entry: ModelEntry, models_dir: Path, device: torch.device, dtype: torch.dtype) -> Adapter:
    """``entry``'s adapter on its family's tiny random weights, built into ``models_dir`` and loaded by the
    production loader. Entries whose source is already ``builtin:`` keep it."""
    if not entry.source.startswith(BUILTIN_PREFIX):
        name = TINY_BUILDERS.get(entry.id)
        if name is None:
            raise ModelUnavailable(
                f"model '{entry.id}' has no tiny random builder for --tiny; known: {', '.join(sorted(TINY_BUILDERS))}"
            )
        # Hub repos named in extra (AnimateDiff's motion adapter) would be fetched; the tiny folder has its own.
        extra = {k: v for k, v in entry.extra.items() if k != "motion_adapter"}
        if entry.family == "fast-svd":
            extra["t2i_source"] = BUILTIN_PREFIX + TINY_T2I
        entry = dataclasses.replace(entry, source=BUILTIN_PREFIX + name, extra=extra)
    return load_adapter(entry, models_dir, device, dtype)


# ---- full size ----------------------------------------------------------------------------------


def _ltx(entry, folder, device, dtype):
    from ..adapters.ltx import LTXAdapter

    return LTXAdapter(build_pipeline(folder, device, dtype).to(device), entry.extra.get("call_kwargs"))


def _wan(entry, folder, device, dtype):
    from ..adapters.wan import WanAdapter

    # As WanAdapter.load: the VAE and the CLIP image encoder stay float32 when the transformers run in bf16.
    dtypes = {"vae": torch.float32, "image_encoder": torch.float32}
    pipe = build_pipeline(folder, device, dtype, dtypes).to(device)
    return WanAdapter(pipe, entry.extra.get("call_kwargs"), entry.extra.get("flow_shift"))


def _cogvideox(entry, folder, device, dtype):
    from ..adapters.cogvideox import CogVideoXAdapter

    return CogVideoXAdapter(build_pipeline(folder, device, dtype).to(device), entry.extra.get("call_kwargs"))


def _hunyuan(entry, folder, device, dtype):
    from ..adapters.hunyuan import HunyuanAdapter

    pipe = build_pipeline(folder, device, dtype).to(device)
    return HunyuanAdapter(pipe, entry.extra.get("call_kwargs"), entry.extra.get("prompt_template"))


def _svd(entry, folder, device, dtype):
    from ..adapters.svd import SVDAdapter

    return SVDAdapter(build_pipeline(folder, device, dtype).to(device), entry.extra.get("default_options"))


def _fast_svd_video_stage(folder: Path) -> Path:
    # fast-svd's source is SVD-XT's repo; only its text-to-image stage is stored under fast-svd/.
    return folder.parent / "svd-xt"


def _fast_svd(entry, folder, device, dtype):
    from diffusers import StableDiffusionPipeline

    from ..adapters.fast_svd import DEFAULT_T2I_GUIDANCE, DEFAULT_T2I_STEPS, FastSVDAdapter

    _, components, _ = build_components(folder / "t2i", device, dtype)
    t2i = StableDiffusionPipeline(**components, safety_checker=None, feature_extractor=None,
                                  requires_safety_checker=False).to(device)
    return FastSVDAdapter(
        t2i, _svd(entry, _fast_svd_video_stage(folder), device, dtype),
        t2i_steps=entry.extra.get("t2i_steps", DEFAULT_T2I_STEPS),
        t2i_guidance_scale=entry.extra.get("t2i_guidance_scale", DEFAULT_T2I_GUIDANCE),
    )


def _animatediff(entry, folder, device, dtype):
    from diffusers import AnimateDiffPipeline

    from ..adapters.animatediff import AnimateDiffAdapter, _with_scheduler

    _, components, _ = build_components(folder, device, dtype)
    motion_adapter = build_model(folder, "motion_adapter", "diffusers", "MotionAdapter", device, dtype)
    # AnimateDiffPipeline turns the SD1.5 UNet into a UNetMotionModel (on the CPU); .to() puts it back.
    pipe = AnimateDiffPipeline(motion_adapter=motion_adapter, **components)
    # The catalog's scheduler settings, as AnimateDiffAdapter.load applies them.
    pipe = _with_scheduler(pipe, entry.extra.get("scheduler")).to(device)
    return AnimateDiffAdapter(pipe, device=device, dtype=dtype, extra=entry.extra)


_FULL: dict[str, Callable[..., Adapter]] = {
    "ltx": _ltx, "wan": _wan, "cogvideox": _cogvideox, "hunyuan": _hunyuan,
    "svd": _svd, "fast-svd": _fast_svd, "animatediff": _animatediff,
}


def _free_bytes(device: torch.device) -> int | None:
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    except (OSError, StopIteration):
        return None


def _check_fits(entry: ModelEntry, folders: list[Path], device: torch.device, dtype: torch.dtype) -> None:
    # Building a 14B model into memory that cannot hold it ends in the OOM killer, not an error.
    need, free = weight_bytes(folders, dtype), _free_bytes(device)
    if free is not None and need > free:
        raise ModelUnavailable(
            f"model '{entry.id}' needs {need / 2**30:.1f} GiB for its weights in {str(dtype).removeprefix('torch.')}, "
            f"but {device} has {free / 2**30:.1f} GiB free; use --tiny on this machine, or a bigger device"
        )


def full_adapter(entry: ModelEntry, device: torch.device, dtype: torch.dtype) -> Adapter:
    """``entry``'s adapter on its published architecture with random weights, built on ``device``."""
    folder = published_root() / entry.id
    build = _FULL.get(entry.family)
    if build is None or not folder.is_dir():
        raise ModelUnavailable(
            f"model '{entry.id}' has no stored published configs (engine/published/); run it with --tiny, "
            f"or pick one of: {', '.join(sorted(p.name for p in published_root().iterdir() if p.is_dir()))}"
        )
    # As the production loader: built where the memory policy keeps the weights (the host when they
    # are offloaded), then the policy (offload hooks, VAE tiling) is installed on every pipeline.
    build_device = load_device(entry.memory, device)
    folders = [folder] + ([_fast_svd_video_stage(folder)] if entry.family == "fast-svd" else [])
    _check_fits(entry, folders, build_device, dtype)
    # Seeded so a run that overflows (random weights can) does so every time, not by luck.
    torch.manual_seed(0)
    adapter = build(entry, folder, build_device, dtype)
    apply_memory_policy(adapter, entry.memory, device, entry.id)
    return adapter


# ---- the request ---------------------------------------------------------------------------------


def _still(width: int, height: int, hue: int) -> Image.Image:
    """A smooth synthetic image exactly at the request size (so no adapter resize is timed)."""
    x = torch.linspace(0, 255, width).round().to(torch.uint8)
    y = torch.linspace(0, 255, height).round().to(torch.uint8)
    rgb = torch.stack([x.expand(height, width), y[:, None].expand(height, width),
                       torch.full((height, width), hue, dtype=torch.uint8)], dim=-1)
    return Image.fromarray(rgb.numpy(), "RGB")


def _tiny_size(entry: ModelEntry) -> tuple[int, int]:
    """The model's smallest menu size scaled down to TINY_SIDE on its long side, on the model's grid.

    The tiny VAEs work at full pixel resolution, so a 720p clip costs them minutes on a CPU.
    """
    width, height = min((parse_size(s) for s in entry.sizes), key=lambda wh: wh[0] * wh[1])
    scale, m = min(1.0, TINY_SIDE / max(width, height)), entry.native_multiple
    return tuple(max(m, round(v * scale / m) * m) for v in (width, height))


def bench_request(entry: ModelEntry, *, tiny: bool, steps: int | None = None, frames: int | None = None,
                  size: str | None = None) -> GenerateRequest:
    """The request both paths run: the catalog's defaults (full size) or a small clip (``tiny``), at the
    model's native generation size, with an input image where the model needs one."""
    if size:
        width, height = parse_size(size)
    elif tiny:
        width, height = _tiny_size(entry)
    else:
        width, height = entry.native_size(*parse_size(entry.default_size))
    if frames is None:
        frames = entry.frame_rule.at_least(TINY_MIN_FRAMES) if tiny else min(
            entry.frames_for(entry.default_seconds, entry.fps), entry.max_frames)
    needs_image = Task.T2V not in entry.tasks
    image = _still(width, height, 40) if needs_image else None
    # Keyframe models get both frames (Wan FLF2V needs them; Wan 2.2 I2V takes the last one too).
    last_image = _still(width, height, 200) if needs_image and entry.keyframes else None
    return GenerateRequest(
        prompt=PROMPT, negative_prompt=NEGATIVE_PROMPT, seed=0,
        num_inference_steps=steps or (TINY_STEPS if tiny else entry.default_steps),
        guidance_scale=entry.default_guidance, num_frames=frames, width=width, height=height, fps=entry.fps,
        image=image, last_image=last_image, options={},
    )


def describe(entry: ModelEntry, tiny: bool) -> dict[str, Any]:
    weights = "tiny random" if tiny or entry.source.startswith(BUILTIN_PREFIX) else "published architecture, random"
    return {"model": entry.id, "family": entry.family, "weights": weights}
