"""The seam between a worker and a model family: one request in, uint8 frames out.

An adapter wraps one loaded diffusers pipeline (and variants built from the same
components). diffusers owns the maths; the adapter only maps a ``GenerateRequest``
onto the pipeline's call and its output onto frames.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterator, Mapping

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
    # Video-to-video (Task.EDIT): the source frames, uint8 (T, H, W, 3) at the native size, and how
    # much of them to re-noise (0 < strength <= 1). Adapters without an edit path refuse it.
    video: "np.ndarray | None" = None
    strength: float | None = None
    # Multi-prompt: consecutive segments, each its own prompt and frame count (they sum to num_frames).
    segments: tuple["Segment", ...] = ()
    loras: tuple["LoraWeight", ...] = ()
    # Family-specific knobs the catalog allows for that family (e.g. SVD's motion_bucket_id,
    # noise_aug_strength, decode_chunk_size); adapters read the ones they know.
    options: "Mapping[str, Any]" = field(default_factory=dict)
    # The speed tier (engine/speed.py), applied around ``generate`` by the runtime.
    speed: str = "exact"

    @classmethod
    def from_spec(cls, spec: "JobSpec", entry: "ModelEntry", image: "Image.Image | None" = None) -> "GenerateRequest":
        """The request for a validated job: the spec's values at ``entry``'s native size for the spec's size."""
        width, height = entry.native_size(spec.width, spec.height)
        return cls(
            prompt=spec.prompt, negative_prompt=spec.negative_prompt, seed=spec.seed,
            num_inference_steps=spec.num_inference_steps, guidance_scale=spec.guidance_scale,
            num_frames=spec.num_frames, width=width, height=height, fps=spec.fps, image=image, speed=spec.speed,
        )


class Adapter(ABC):
    """Runs one model family. One request at a time per instance: pipelines keep per-call state on self."""

    family: ClassVar[str]
    # Whether ``generate`` takes ``req.video`` (an edit); families without a video-to-video path are
    # refused before they would silently ignore the source clip.
    edits: ClassVar[bool] = False

    @classmethod
    @abstractmethod
    def load(cls, entry: "ModelEntry", path: Path, device: torch.device, dtype: torch.dtype) -> "Adapter":
        """Load the weights in ``path`` (a diffusers folder) onto ``device``."""

    @abstractmethod
    def generate(self, req: GenerateRequest, on_step: OnStep) -> np.ndarray:
        """Frames as uint8 (T, H, W, 3), T == req.num_frames, H == req.height, W == req.width."""

    # Whether ``generate_batch`` runs its requests in one pipeline call (per-sample prompts, negative
    # prompts, first frames and generators); the catalog's max_batch is only raised for such families.
    batches: ClassVar[bool] = False

    def generate_batch(self, reqs: "list[GenerateRequest]", on_step: OnStep) -> "list[np.ndarray | GenerationFailed]":
        """Compatible requests (``store.batches``: equal but for prompts, seeds and first frames) ->
        each one's frames, or the error of the sample that alone went wrong. An error of the whole
        call raises. Without batch support: one call per request, each failing on its own."""
        out: list[np.ndarray | GenerationFailed] = []
        for req in reqs:
            try:
                out.append(self.generate(req, on_step))
            except GenerationFailed as e:
                out.append(e)
        return out


def seeded_generator(seed: int) -> torch.Generator:
    """A CPU generator for ``seed``.

    diffusers' ``randn_tensor`` draws on the generator's device and then moves the
    noise, so a CPU generator gives the same initial latents on CPU, CUDA and MPS
    (a CUDA generator draws a different stream, and MPS generators are patchy).
    Results still differ across devices by kernel rounding, but not by noise.
    """
    return torch.Generator(device="cpu").manual_seed(seed)


class Progress:
    """One monotone ``on_step(done, total)`` sequence across a job's stages: text-to-image steps,
    denoising steps and VAE decode calls, of one pipeline or several (segments, two-stage models).

    ``total`` is planned up front so the percentage and ETA mean something from the first tick;
    if a stage turns out longer than planned (a scheduler that changes the step count, a tiled
    decode), the total grows rather than the count overshooting it.
    """

    def __init__(self, on_step: OnStep, total: int):
        self.on_step = on_step
        self.total = total
        self.done = 0

    def tick(self) -> None:
        self.done += 1
        self.total = max(self.total, self.done)
        self.on_step(self.done, self.total)

    def step_callback(self, planned_steps: int) -> Callable[..., dict[str, Any]]:
        """A ``callback_on_step_end`` ticking once per step; ``planned_steps`` is what ``total`` assumed.

        Whatever ``on_step`` raises propagates out of the pipeline call, which stops it before the
        next step and before the VAE decode; that is how cancel works (setting ``pipe._interrupt``
        would still decode and return a half-denoised video).
        """

        def callback(pipe, step: int, timestep, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
            actual = getattr(pipe, "num_timesteps", None)
            if step == 0 and actual and actual != planned_steps:
                # The scheduler changed the step count: the pipeline's count is the truth.
                self.total += actual - planned_steps
            self.tick()
            return callback_kwargs

        return callback

    @contextlib.contextmanager
    def decoding(self, vae: torch.nn.Module) -> Iterator[None]:
        """Tick once per call of ``vae.decoder`` while the block runs.

        VAEs decode a video in pieces (Wan per latent frame, CogVideoX per frame pair, AnimateDiff
        per chunk of frames, any tiled VAE per tile), and every piece goes through ``decoder``; a
        hook there gives decode progress without re-implementing any decode loop. Raising from
        ``on_step`` (cancel) stops the decode between pieces.
        """
        hook = vae.decoder.register_forward_hook(lambda module, args, output: self.tick())
        try:
            yield
        finally:
            hook.remove()


def video_call_kwargs(req: GenerateRequest, progress: "Progress | OnStep") -> dict[str, Any]:
    """The arguments every diffusers video pipeline takes the same way; adapters add their own."""
    if not isinstance(progress, Progress):
        progress = Progress(progress, req.num_inference_steps)
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
        callback_on_step_end=progress.step_callback(req.num_inference_steps),
    )


# An edit's strength when a request names none: diffusers' video-to-video default is 0.8, which on
# these models keeps little of the source; 0.6 keeps its layout and motion and still takes a new look.
DEFAULT_EDIT_STRENGTH = 0.6


def edit_steps(req: GenerateRequest) -> int:
    """Denoising steps an edit runs: the last ``int(steps * strength)`` of the schedule, the rule every
    diffusers video-to-video pipeline (and the built-in model) applies. Refuses a source clip whose
    frame count differs from the request's, and a strength so low that no step would run."""
    if req.video is None:
        raise GenerationFailed("an edit needs a source video")
    if len(req.video) != req.num_frames:
        raise GenerationFailed(f"the source video has {len(req.video)} frames; this edit asked for {req.num_frames}")
    strength = edit_strength(req)
    if not 0.0 < strength <= 1.0:
        raise GenerationFailed(f"strength must be in (0, 1]; got {strength}")
    run = min(int(req.num_inference_steps * strength), req.num_inference_steps)
    if run < 1:
        raise GenerationFailed(
            f"strength {strength} with {req.num_inference_steps} steps leaves no denoising step to run; "
            f"raise the strength or the steps"
        )
    return run


def edit_strength(req: GenerateRequest) -> float:
    return DEFAULT_EDIT_STRENGTH if req.strength is None else float(req.strength)


def edit_frames(req: GenerateRequest) -> "list[Image.Image]":
    """The source clip as the PIL frames diffusers' video processors take."""
    from PIL import Image

    return [Image.fromarray(np.ascontiguousarray(f)) for f in req.video]


def edit_kwargs(req: GenerateRequest, progress: "Progress") -> dict[str, Any]:
    """``video_call_kwargs`` for a diffusers video-to-video pipeline: the frames and strength replace
    ``num_frames`` (the pipelines take the count from the video)."""
    kwargs = video_call_kwargs(req, progress)
    kwargs.pop("num_frames")
    kwargs.update(video=edit_frames(req), strength=edit_strength(req),
                  callback_on_step_end=progress.step_callback(edit_steps(req)))
    return kwargs


def latent_frames(num_frames: int, temporal_compression: int = 4) -> int:
    """Latent frames of a causal video VAE (first frame alone, then one per ``temporal_compression``)."""
    return (num_frames - 1) // temporal_compression + 1


def batch_call_kwargs(reqs: "list[GenerateRequest]", progress: "Progress | OnStep", *,
                      no_negative: str | None = "") -> dict[str, Any]:
    """``video_call_kwargs`` for compatible requests (``store.batches``) in one call: per-sample
    prompts, negative prompts (``no_negative`` where a request has none: diffusers reads "" as its
    None) and generators, each seeded on its own. diffusers' ``randn_tensor`` draws each sample's
    noise from its own generator at its own shape, so a sample does not depend on the others."""
    images = [r.image is not None for r in reqs]
    if any(images) and not all(images):
        raise GenerationFailed("a batch is all text-to-video or all image-to-video")
    if any(r.last_image is not None or r.video is not None or r.segments for r in reqs):
        raise GenerationFailed("keyframes, edits and multi-prompt requests run one at a time")
    kwargs = video_call_kwargs(reqs[0], progress)
    kwargs.update(prompt=[r.prompt for r in reqs],
                  negative_prompt=[no_negative if r.negative_prompt is None else r.negative_prompt for r in reqs],
                  generator=[seeded_generator(r.seed) for r in reqs])
    return kwargs


def batch_frames(frames: Any, reqs: "list[GenerateRequest]") -> "list[np.ndarray | GenerationFailed]":
    """A batched call's videos, one per request; a sample gone wrong (non-finite pixels) is its
    request's error, not the whole batch's."""
    out: list[np.ndarray | GenerationFailed] = []
    for req, clip in zip(reqs, frames, strict=True):
        try:
            out.append(to_uint8_frames(clip, req))
        except GenerationFailed as e:
            out.append(e)
    return out


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
