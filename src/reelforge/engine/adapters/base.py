"""The seam between a worker and a model family: one request in, uint8 frames out.

An adapter wraps one loaded diffusers pipeline (and variants built from the same
components). diffusers owns the maths; the adapter only maps a ``GenerateRequest``
onto the pipeline's call and its output onto frames.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping

import numpy as np
import torch

from ...errors import GenerationFailed

if TYPE_CHECKING:
    from PIL import Image

    from ...catalog import ModelEntry
    from ...jobs import JobSpec

# on_step(done, total): called after every denoising step; it may raise (JobCancelled,
# LeaseLost) to abort the pipeline between steps.
OnStep = Callable[[int, int], None]


@dataclass(frozen=True)
class Segment:
    prompt: str
    num_frames: int


@dataclass(frozen=True)
class LoraWeight:
    """A LoRA file or diffusers LoRA folder, already resolved to a local path, and its strength."""

    path: Path
    scale: float = 1.0


@dataclass(frozen=True)
class GenerateRequest:
    """What to generate, at the model's NATIVE size (the media layer scales to the requested output)."""

    prompt: str
    seed: int
    num_inference_steps: int
    guidance_scale: float
    num_frames: int
    width: int
    height: int
    fps: int
    negative_prompt: str | None = None
    # First frame (image-to-video) and, where the family supports keyframes, the last frame.
    image: "Image.Image | None" = None
    last_image: "Image.Image | None" = None
    # Multi-prompt: consecutive segments, each its own prompt and frame count (they sum to num_frames).
    segments: tuple["Segment", ...] = ()
    loras: tuple["LoraWeight", ...] = ()
    # Family-specific knobs the catalog allows for that family (e.g. SVD's motion_bucket_id,
    # noise_aug_strength, decode_chunk_size); adapters read the ones they know.
    options: "Mapping[str, Any]" = field(default_factory=dict)

    @classmethod
    def from_spec(cls, spec: "JobSpec", entry: "ModelEntry", image: "Image.Image | None" = None) -> "GenerateRequest":
        """The request for a validated job: the spec's values at ``entry``'s native size for the spec's size."""
        width, height = entry.native_size(spec.width, spec.height)
        return cls(
            prompt=spec.prompt, negative_prompt=spec.negative_prompt, seed=spec.seed,
            num_inference_steps=spec.num_inference_steps, guidance_scale=spec.guidance_scale,
            num_frames=spec.num_frames, width=width, height=height, fps=spec.fps, image=image,
        )


class Adapter(ABC):
    """Runs one model family. One request at a time per instance: pipelines keep per-call state on self."""

    family: ClassVar[str]

    @classmethod
    @abstractmethod
    def load(cls, entry: "ModelEntry", path: Path, device: torch.device, dtype: torch.dtype) -> "Adapter":
        """Load the weights in ``path`` (a diffusers folder) onto ``device``."""

    @abstractmethod
    def generate(self, req: GenerateRequest, on_step: OnStep) -> np.ndarray:
        """Frames as uint8 (T, H, W, 3), T == req.num_frames, H == req.height, W == req.width."""


def seeded_generator(seed: int) -> torch.Generator:
    """A CPU generator for ``seed``.

    diffusers' ``randn_tensor`` draws on the generator's device and then moves the
    noise, so a CPU generator gives the same initial latents on CPU, CUDA and MPS
    (a CUDA generator draws a different stream, and MPS generators are patchy).
    Results still differ across devices by kernel rounding, but not by noise.
    """
    return torch.Generator(device="cpu").manual_seed(seed)


def video_call_kwargs(req: GenerateRequest, on_step: OnStep) -> dict[str, Any]:
    """The arguments every diffusers video pipeline takes the same way; adapters add their own."""
    return dict(
        prompt=req.prompt,
        negative_prompt=req.negative_prompt,
        height=req.height,
        width=req.width,
        num_frames=req.num_frames,
        num_inference_steps=req.num_inference_steps,
        guidance_scale=req.guidance_scale,
        generator=seeded_generator(req.seed),
        output_type="np",
        callback_on_step_end=step_callback(on_step, req.num_inference_steps),
    )


def step_callback(on_step: OnStep, default_total: int) -> Callable[..., dict[str, Any]]:
    """A ``callback_on_step_end`` that reports (done, total) after each step.

    Whatever ``on_step`` raises propagates out of the pipeline call, which stops it
    before the next step and before the VAE decode; that is how cancel works
    (setting ``pipe._interrupt`` would still decode and return a half-denoised video).
    """

    def callback(pipe, step: int, timestep, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
        # The pipeline's own count is the truth when a scheduler changes the step count.
        total = getattr(pipe, "num_timesteps", None) or default_total
        on_step(step + 1, total)
        return callback_kwargs

    return callback


def to_uint8_frames(frames: np.ndarray, req: GenerateRequest) -> np.ndarray:
    """One video of float frames in [0, 1] (as ``output_type="np"`` returns) -> uint8 (T, H, W, 3)."""
    video = np.asarray(frames)
    if video.ndim == 5:  # (batch, T, H, W, C): we always ask for one video
        video = video[0]
    if not np.isfinite(video).all():
        # Typically fp16 overflow in a text encoder or VAE; an all-black video would hide it.
        raise GenerationFailed("the model produced NaN/inf pixels (numeric overflow; try float32 or bfloat16)")
    expected = (req.num_frames, req.height, req.width, 3)
    if video.shape != expected:
        raise GenerationFailed(f"the model returned frames of shape {video.shape}, expected {expected}")
    return (np.clip(video, 0.0, 1.0) * 255.0).round().astype(np.uint8)
