"""Stable Video Diffusion: image-to-video with ``StableVideoDiffusionPipeline``.

SVD animates a still image; it has no text encoder, so the prompt is ignored and a
request without an image is refused (the ``fast-svd`` family makes the image from
text first, then calls :meth:`SVDAdapter.animate`).

Request mapping:
  * ``image`` (required) -> ``image``, center-cropped to the request's aspect ratio and
    resized to ``width`` x ``height`` here (the pipeline itself would stretch it);
  * ``num_frames`` -> ``num_frames`` (14 for img2vid, 25 for img2vid-xt; the catalog validates);
  * ``fps`` -> ``fps``: the pipeline conditions the UNet on ``fps - 1``, as SVD was trained;
  * ``guidance_scale`` -> ``max_guidance_scale`` (guidance ramps linearly over the frames from
    ``min_guidance_scale`` on the first frame to this on the last);
  * ``seed`` -> a CPU ``generator`` (initial latents and the conditioning-image noise);
  * ``options``: ``motion_bucket_id`` (127), ``noise_aug_strength`` (0.02), ``decode_chunk_size``
    (all frames on CPU, 8 on an accelerator), ``min_guidance_scale`` (1.0). A catalog entry can
    change these defaults per checkpoint with ``extra["default_options"]``.

Progress: one ``on_step(done, total)`` per denoising step, then one per VAE decode chunk
(``total = steps + ceil(num_frames / decode_chunk_size)``). SVD's temporal VAE decode is
long at 1024x576, so it gets its own ticks; they come from a forward hook on
``vae.decoder``, which ``decode_latents`` calls once per chunk. Raising from ``on_step``
(cancel) aborts between steps or between decode chunks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import torch
from diffusers import StableVideoDiffusionPipeline
from PIL import Image, ImageOps

from ...errors import GenerationFailed
from .base import Adapter, GenerateRequest, OnStep, Progress, seeded_generator, to_uint8_frames

if TYPE_CHECKING:
    from ...catalog import ModelEntry

# The pipeline's own defaults (StableVideoDiffusionPipeline.__call__ in diffusers 0.42).
DEFAULT_OPTIONS: dict[str, Any] = {
    "motion_bucket_id": 127,
    "noise_aug_strength": 0.02,
    "min_guidance_scale": 1.0,
    "decode_chunk_size": None,  # None: device-dependent, see _decode_chunk_size
}
# On CUDA, decoding 25 frames at 1024x576 in one go needs far more memory than the UNet;
# diffusers' own example uses 8. Smaller chunks lose some temporal smoothness at chunk seams.
ACCELERATOR_DECODE_CHUNK = 8


@dataclass(frozen=True)
class SVDCall:
    """The resolved SVD settings for one request."""

    motion_bucket_id: int
    noise_aug_strength: float
    min_guidance_scale: float
    max_guidance_scale: float
    decode_chunk_size: int


def fit_image(image: Image.Image, width: int, height: int) -> Image.Image:
    """``image`` as RGB at exactly ``width`` x ``height``: scaled to cover, center-cropped (never stretched)."""
    image = image.convert("RGB")
    if image.size == (width, height):
        return image
    return ImageOps.fit(image, (width, height), method=Image.Resampling.LANCZOS)


def _number(options: Mapping[str, Any], name: str, kind: type, low: float | None = None, high: float | None = None):
    value = options[name]
    try:
        if kind is int and (isinstance(value, bool) or float(value) != int(float(value))):
            raise ValueError
        value = kind(value)
    except (TypeError, ValueError):
        what = "an integer" if kind is int else "a number"
        raise GenerationFailed(f"SVD option {name}={options[name]!r} is not {what}") from None
    if (low is not None and value < low) or (high is not None and value > high):
        raise GenerationFailed(f"SVD option {name}={value} is out of range [{low}, {high}]")
    return value


class SVDAdapter(Adapter):
    family = "svd"

    def __init__(self, pipe: StableVideoDiffusionPipeline, default_options: Mapping[str, Any] | None = None):
        self.pipe = pipe
        pipe.set_progress_bar_config(disable=True)
        self.default_options = {**DEFAULT_OPTIONS, **dict(default_options or {})}

    @classmethod
    def load(cls, entry: "ModelEntry", path: Path, device: torch.device, dtype: torch.dtype) -> "SVDAdapter":
        return cls.from_folder(path, device, dtype, entry.extra.get("default_options"))

    @classmethod
    def from_folder(cls, path: Path, device: torch.device, dtype: torch.dtype,
                    default_options: Mapping[str, Any] | None = None) -> "SVDAdapter":
        pipe = StableVideoDiffusionPipeline.from_pretrained(path, dtype=dtype).to(device)
        return cls(pipe, default_options)

    @property
    def device(self) -> torch.device:
        return self.pipe.unet.device

    def _decode_chunk_size(self, num_frames: int) -> int:
        # CPU (RAM is plentiful) decodes all frames at once: the best temporal consistency,
        # and what the pipeline does when given None. Accelerators decode 8 at a time.
        if self.device.type == "cpu":
            return num_frames
        return min(num_frames, ACCELERATOR_DECODE_CHUNK)

    def settings(self, req: GenerateRequest) -> SVDCall:
        """The SVD call settings for ``req``: its options over the entry's defaults over the pipeline's."""
        options = {**self.default_options, **{k: v for k, v in dict(req.options).items() if v is not None}}
        chunk = options.get("decode_chunk_size")
        if chunk is None:
            chunk = self._decode_chunk_size(req.num_frames)
        else:
            chunk = _number(options, "decode_chunk_size", int, 1)
        max_guidance = float(req.guidance_scale)
        # A ramp that starts above its end would still switch CFG on from max; keep it sane.
        min_guidance = min(_number(options, "min_guidance_scale", float, 0.0), max_guidance)
        return SVDCall(
            motion_bucket_id=_number(options, "motion_bucket_id", int, 0, 1023),
            noise_aug_strength=_number(options, "noise_aug_strength", float, 0.0, 10.0),
            min_guidance_scale=min_guidance,
            max_guidance_scale=max_guidance,
            decode_chunk_size=min(chunk, req.num_frames),
        )

    def planned_ticks(self, req: GenerateRequest) -> int:
        """How many ``on_step`` calls :meth:`animate` makes for ``req``: steps plus decode chunks."""
        call = self.settings(req)
        return req.num_inference_steps + math.ceil(req.num_frames / call.decode_chunk_size)

    def _check(self, req: GenerateRequest) -> None:
        if req.num_frames < 1:
            raise GenerationFailed(f"num_frames={req.num_frames}: SVD needs at least one frame")
        m = self.pipe.vae_scale_factor
        if req.width % m or req.height % m:
            raise GenerationFailed(f"size {req.width}x{req.height} is not a multiple of {m}, which SVD needs")
        if req.last_image is not None:
            raise GenerationFailed("SVD animates from a first frame only; it cannot take a last frame")
        if req.loras:
            raise GenerationFailed("SVD does not support LoRAs")

    def generate(self, req: GenerateRequest, on_step: OnStep) -> np.ndarray:
        if req.image is None:
            raise GenerationFailed("SVD animates an image; use fast-svd for text-to-video")
        progress = Progress(on_step, self.planned_ticks(req))
        return self.animate(req.image, req, progress)

    def animate(self, image: Image.Image, req: GenerateRequest, progress: Progress) -> np.ndarray:
        """Animate ``image`` for ``req``, ticking ``progress`` once per step and per decode chunk."""
        self._check(req)
        call = self.settings(req)
        with progress.decoding(self.pipe.vae):
            out = self.pipe(
                image=fit_image(image, req.width, req.height),
                height=req.height,
                width=req.width,
                num_frames=req.num_frames,
                num_inference_steps=req.num_inference_steps,
                min_guidance_scale=call.min_guidance_scale,
                max_guidance_scale=call.max_guidance_scale,
                fps=req.fps,  # the pipeline passes fps - 1 to the UNet
                motion_bucket_id=call.motion_bucket_id,
                noise_aug_strength=call.noise_aug_strength,
                decode_chunk_size=call.decode_chunk_size,
                generator=seeded_generator(req.seed),
                output_type="np",
                callback_on_step_end=progress.step_callback(req.num_inference_steps),
            )
        return to_uint8_frames(out.frames, req)
