"""Turn a wire-free create request into a ``JobSpec``, validated against the catalog.

Every rule rejects with a message that names the bad value and what is allowed;
nothing is silently rounded. Values we choose (defaults, a random seed, the frame
count a duration needs) are written into the spec so the response can echo them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from ..catalog import Catalog, ModelEntry, parse_size
from ..errors import InvalidRequest
from ..jobs import JobSpec, Task

MAX_PROMPT_CHARS = 32000
MAX_SEED = 2**32 - 1


@dataclass
class VideoRequest:
    """A create request as any surface understands it, after wire parsing and before validation."""

    prompt: str
    model: str | None = None
    seconds: int | None = None
    size: str | None = None
    negative_prompt: str | None = None
    seed: int | None = None
    num_inference_steps: int | None = None
    guidance_scale: float | None = None
    fps: int | None = None
    num_frames: int | None = None
    # Raw bytes of the input image (already fetched/decoded from the wire form), and the wire name to blame.
    image: bytes | None = None
    image_param: str = "input_reference"


def check_prompt(value: str | None, param: str, *, required: bool) -> str | None:
    if value is None or not value.strip():
        if required:
            raise InvalidRequest(f"'{param}' is required and must be a non-empty string.", param=param)
        return None
    if len(value) > MAX_PROMPT_CHARS:
        raise InvalidRequest(f"'{param}' is {len(value)} characters long; at most {MAX_PROMPT_CHARS} are allowed.", param=param)
    return value


def _in_range(value: float, lo: float, hi: float, param: str, what: str) -> None:
    if not lo <= value <= hi:
        raise InvalidRequest(f"Invalid {param} {value!r}: {what} must be between {lo} and {hi}.", param=param)


def resolve_frames(entry: ModelEntry, req: VideoRequest, fps: int) -> tuple[int, int]:
    """(num_frames, seconds): an explicit frame count wins; otherwise the duration menu decides."""
    rule = entry.frame_rule
    if req.num_frames is not None:
        n = req.num_frames
        if not rule.allows(n) or n > entry.max_frames:
            raise InvalidRequest(
                f"Invalid num_frames {n} for model '{entry.id}': it needs {rule} frames, at most {entry.max_frames} "
                f"(for example {rule.at_least(max(n, 1))} or {rule.at_least(max(n - rule.step, 1))}).",
                param="num_frames",
            )
        seconds = req.seconds if req.seconds is not None else max(1, round(n / fps))
        return n, seconds
    seconds = entry.default_seconds if req.seconds is None else req.seconds
    if seconds not in entry.durations:
        allowed = ", ".join(str(d) for d in entry.durations)
        raise InvalidRequest(f"Invalid seconds {seconds} for model '{entry.id}'. Allowed: {allowed}.", param="seconds")
    n = entry.frames_for(seconds, fps)
    if n > entry.max_frames:
        raise InvalidRequest(
            f"{seconds} seconds at {fps} fps needs {n} frames, more than model '{entry.id}' makes ({entry.max_frames}). "
            "Lower seconds or fps.",
            param="seconds",
        )
    return n, seconds


def build_spec(catalog: Catalog, req: VideoRequest, *, input_image: str | None = None) -> JobSpec:
    prompt = check_prompt(req.prompt, "prompt", required=True)
    negative = check_prompt(req.negative_prompt, "negative_prompt", required=False)
    entry = catalog.resolve(req.model)

    task = Task.I2V if req.image is not None or input_image else Task.T2V
    if task not in entry.tasks:
        allowed = ", ".join(sorted(t.value for t in entry.tasks))
        raise InvalidRequest(
            f"Model '{entry.id}' does not support {'image' if task is Task.I2V else 'text'}-to-video "
            f"(it supports: {allowed}).",
            param=req.image_param if task is Task.I2V else "model",
        )

    size = req.size or entry.default_size
    if size not in entry.sizes:
        raise InvalidRequest(f"Invalid size '{size}' for model '{entry.id}'. Allowed: {', '.join(entry.sizes)}.", param="size")
    width, height = parse_size(size)

    fps = entry.fps if req.fps is None else req.fps
    _in_range(fps, *entry.fps_range, "fps", "fps")
    num_frames, seconds = resolve_frames(entry, req, fps)

    steps = entry.default_steps if req.num_inference_steps is None else req.num_inference_steps
    _in_range(steps, 1, entry.max_steps, "num_inference_steps", "the number of denoising steps")
    guidance = entry.default_guidance if req.guidance_scale is None else float(req.guidance_scale)
    _in_range(guidance, *entry.guidance_range, "guidance_scale", "guidance_scale")

    seed = req.seed
    if seed is None or seed == -1:
        seed = secrets.randbelow(MAX_SEED + 1)
    _in_range(seed, 0, MAX_SEED, "seed", "seed (or -1 for random)")

    return JobSpec(
        model=entry.id,
        task=task,
        prompt=prompt,
        negative_prompt=negative,
        seed=seed,
        num_inference_steps=steps,
        guidance_scale=guidance,
        fps=fps,
        num_frames=num_frames,
        width=width,
        height=height,
        seconds=seconds,
        input_image=input_image,
    )
