"""Turn a wire-free create request into a ``JobSpec``, validated against the catalog.

Every rule rejects with a message that names the bad value and what is allowed;
nothing is silently rounded. Values we choose (defaults, a random seed, the frame
count a duration needs) are written into the spec so the response can echo them.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, field
from typing import Any

from ..catalog import SPEEDS, STYLES, Catalog, ModelEntry, parse_size
from ..errors import InvalidRequest, shown
from ..jobs import JobSpec, Task

MAX_PROMPT_CHARS = 32000
MAX_SEED = 2**32 - 1
MAX_TITLE_CHARS = 255
# How an input image becomes the video's frame (Segmind's resize_method, plus our default):
#   crop                   cover the requested size and cut the overflow (never stretch);
#   maintain_aspect_ratio  the video takes the image's aspect ratio at the model's default pixel count;
#   crop_to_16_9           the video is 16:9 and the image is cropped to it.
RESIZE_METHODS = ("crop", "maintain_aspect_ratio", "crop_to_16_9")
# Beyond this the derived frame would be a sliver; wider images are cropped to it.
MAX_ASPECT = 21 / 9


@dataclass
class VideoRequest:
    """A create request as any dialect understands it, after wire parsing and before validation.

    ``fit``: the values come from a vendor's menu, not ours, so the service may move each to the
    nearest one the model offers (``service.fitting``), reporting every change. Without it (the
    OpenAI dialect, whose values are ours) a value the model lacks is refused, unless a stand-in
    model runs, which is always fitted. ``params`` names the wire field a service field came from
    (``{"num_frames": "frames"}``), so adjustments and errors name what the caller sent.
    """

    prompt: str
    model: str | None = None
    model_param: str = "model"
    # What the caller sent for the model, where a dialect maps it to a catalog name (Segmind's frames=14 -> "svd").
    model_asked: Any = None
    fit: bool = False
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
    last_image: bytes | None = None
    last_image_param: str = "last_frame"
    segments: list[tuple[str, int]] | None = None
    loras: list[tuple[str, float]] | None = None
    style: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    resize_method: str | None = None
    title: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    # A frame shape instead of ``size`` (vendor menus): "W:H", and the short side in pixels (720 for
    # "720p"). A short side without an aspect ratio takes the input image's.
    aspect_ratio: str | None = None
    short_side: int | None = None
    params: dict[str, str] = field(default_factory=dict)
    # Edits and extensions (service.edits): the task when it is neither text- nor image-to-video, the
    # edit strength, and how many source frames an extension's output starts with.
    task: Task | None = None
    strength: float | None = None
    source_frames: int = 0
    # A character of the caller's (service.characters): the video starts from its reference frame.
    character_id: str | None = None
    # The speed tier (catalog.SPEEDS); None: the model's default.
    speed: str | None = None
    # Vendor fields no model here has (name -> (value, why)): reported as dropped, never silent.
    unsupported: dict[str, tuple[Any, str]] = field(default_factory=dict)

    def wire(self, name: str | None) -> str | None:
        """The caller's name for service field ``name`` (``segments[1].frames`` -> ``prompts[1].frames``)."""
        if name is None:
            return None
        head, sep, rest = name.partition("[") if "[" in name else name.partition(".")
        if name in self.params:
            return self.params[name]
        if head in self.params and sep:
            return self.params[head] + sep + rest
        return name


def check_prompt(value: str | None, param: str, *, required: bool) -> str | None:
    if value is None or not value.strip():
        if required:
            raise InvalidRequest(f"'{param}' is required and must be a non-empty string.", param=param)
        return None
    if len(value) > MAX_PROMPT_CHARS:
        raise InvalidRequest(f"'{param}' is {len(value)} characters long; at most {MAX_PROMPT_CHARS} are allowed.", param=param)
    return value


# What an edit re-noises when the request and the catalog name no strength: enough to take a new
# colour or texture, little enough to keep the source's layout and motion.
DEFAULT_STRENGTH = 0.6
_TASK_WORDS = {Task.T2V: "text-to-video", Task.I2V: "image-to-video", Task.EDIT: "video editing (video-to-video)",
               Task.EXTEND: "video extension"}


def can(entry: ModelEntry, task: Task) -> bool:
    """Whether ``entry`` runs ``task``. An extension continues the source's last frame through the
    family's image-to-video path, so every image-to-video model extends."""
    return task in entry.tasks or (task is Task.EXTEND and Task.I2V in entry.tasks)


def refuse_task(catalog: Catalog, entry: ModelEntry, task: Task, param: str = "model") -> InvalidRequest:
    able = [e.id for e in catalog if can(e, task)]
    return InvalidRequest(
        f"Model '{entry.id}' does not support {_TASK_WORDS[task]} (it supports: "
        f"{', '.join(sorted(t.value for t in entry.tasks))}). Models that do: {', '.join(able) or 'none here'}.",
        param=param)


def check_strength(entry: ModelEntry, strength: float | None) -> float:
    """An edit's strength: within the catalog's ``strength`` option where the entry has one (bounds
    included, as for every option), else in (0, 1]."""
    option = entry.option("strength")
    if strength is None:
        return float(option.default) if option is not None else DEFAULT_STRENGTH
    ok = option.lo <= strength <= option.hi if option is not None else 0 < strength <= 1
    if not ok:
        where = f"between {option.lo} and {option.hi}" if option is not None else "above 0 and at most 1"
        raise InvalidRequest(f"Invalid strength {shown(strength)}: model '{entry.id}' takes an edit strength "
                             f"{where} (how much of the source is re-noised).", param="strength")
    return float(strength)


def check_title(title: str | None) -> str | None:
    if title is not None and len(title) > MAX_TITLE_CHARS:
        raise InvalidRequest(f"'title' is {len(title)} characters long; at most {MAX_TITLE_CHARS} are allowed.",
                             param="title")
    return title


def _in_range(value: float, lo: float, hi: float, param: str, what: str) -> None:
    if not lo <= value <= hi:
        raise InvalidRequest(f"Invalid {param} {shown(value)}: {what} must be between {lo} and {hi}.", param=param)


def check_segments(entry: ModelEntry, segments: list[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    """Multi-prompt: travel-capable families take any split; others chain segments through
    image-to-video, so each segment must be a legal clip on its own."""
    if not entry.prompt_travel and Task.I2V not in entry.tasks:
        raise InvalidRequest(
            f"Model '{entry.id}' supports neither prompt travel nor image-to-video, so it cannot make a "
            "multi-prompt video; send one prompt.", param="prompts")
    out = []
    for i, (prompt, frames) in enumerate(segments):
        prompt = check_prompt(prompt, f"prompts[{i}].prompt", required=True)
        if frames < 1:
            raise InvalidRequest(f"prompts[{i}].frames is {frames}; each segment needs at least 1 frame.",
                                 param=f"prompts[{i}].frames")
        if not entry.prompt_travel and not entry.frame_rule.allows(frames):
            raise InvalidRequest(
                f"prompts[{i}].frames is {frames}, but model '{entry.id}' renders each segment as its own clip, "
                f"which needs {entry.frame_rule} frames (e.g. {entry.frame_rule.at_least(frames)}).",
                param=f"prompts[{i}].frames")
        out.append((prompt, frames))
    if not out:
        raise InvalidRequest("prompts must hold at least one segment.", param="prompts")
    return tuple(out)


def check_speed(entry: ModelEntry, speed: str | None) -> str:
    if speed is None:
        return entry.default_speed
    if speed not in entry.speeds:
        if speed in SPEEDS:
            raise InvalidRequest(f"Model '{entry.id}' (family {entry.family}) has no {shown(speed)} speed tier: its step "
                                 f"cache needs a transformer (DiT) model. Allowed: {', '.join(entry.speeds)}.",
                                 param="speed")
        raise InvalidRequest(f"Invalid speed {shown(speed)}. Allowed for model '{entry.id}': {', '.join(entry.speeds)}.",
                             param="speed")
    return speed


def check_options(entry: ModelEntry, options: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in options.items():
        spec = entry.option(name)
        if spec is None:
            allowed = ", ".join(o.name for o in entry.options) or "none"
            raise InvalidRequest(f"Model '{entry.id}' has no option {shown(name)}. Its options: {allowed}.", param=name)
        if spec.kind is int and (isinstance(value, bool) or not float(value).is_integer()):
            raise InvalidRequest(f"Invalid {shown(name)[1:-1]} {shown(value)}: it must be an integer.", param=name)
        value = spec.kind(value)
        _in_range(value, spec.lo, spec.hi, name, name)
        out[name] = value
    return out


def resolve_frames(entry: ModelEntry, req: VideoRequest, fps: int) -> tuple[int, int]:
    """(num_frames, seconds): an explicit frame count wins; otherwise the duration menu decides."""
    rule = entry.frame_rule
    if req.segments and req.num_frames is None:
        n = sum(frames for _, frames in req.segments)
        if n > entry.max_frames:
            raise InvalidRequest(f"The segments add up to {n} frames; model '{entry.id}' makes at most "
                                 f"{entry.max_frames}.", param="prompts")
        return n, req.seconds if req.seconds is not None else max(1, round(n / fps))
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


def _sixteen_nine(size: str) -> bool:
    w, h = parse_size(size)
    return w * 9 == h * 16


def aspect_size(entry: ModelEntry, image_size: tuple[int, int]) -> tuple[int, int]:
    """The frame for ``maintain_aspect_ratio``: the image's aspect ratio (within 21:9 either way) at no more
    pixels than the model's default size, on the model's size grid."""
    dw, dh = parse_size(entry.default_size)
    aspect = min(max(image_size[0] / image_size[1], 1 / MAX_ASPECT), MAX_ASPECT)
    m = entry.native_multiple
    # Rounding down keeps the frame inside the pixel count the model was sized for.
    width = max(m, int(math.sqrt(dw * dh * aspect)) // m * m)
    height = max(m, int(math.sqrt(dw * dh / aspect)) // m * m)
    return width, height


def choose_size(entry: ModelEntry, size: str | None, resize: str, image_size: tuple[int, int] | None) -> tuple[int, int]:
    if resize == "maintain_aspect_ratio" and image_size is not None:
        if size is not None:
            raise InvalidRequest(
                f"size {shown(size)} and resize_method 'maintain_aspect_ratio' disagree: that method takes the size from "
                "the input image. Send one of them.", param="size")
        return aspect_size(entry, image_size)
    if resize == "crop_to_16_9":
        wide = [s for s in entry.sizes if _sixteen_nine(s)]
        if not wide:
            raise InvalidRequest(f"Model '{entry.id}' has no 16:9 size, so resize_method 'crop_to_16_9' cannot apply. "
                                 f"Its sizes: {', '.join(entry.sizes)}.", param="resize_method")
        if size is None:
            size = entry.default_size if entry.default_size in wide else wide[0]
        elif size in entry.sizes and not _sixteen_nine(size):
            raise InvalidRequest(f"resize_method 'crop_to_16_9' needs a 16:9 size, not {shown(size)}. "
                                 f"Model '{entry.id}' offers: {', '.join(wide)}.", param="size")
    size = size or entry.default_size
    if size not in entry.sizes:
        raise InvalidRequest(f"Invalid size {shown(size)} for model '{entry.id}'. Allowed: {', '.join(entry.sizes)}.", param="size")
    return parse_size(size)


def build_spec(
    catalog: Catalog, req: VideoRequest, *, input_image: str | None = None, image_size: tuple[int, int] | None = None,
) -> JobSpec:
    """``image_size`` is the decoded first frame's (width, height), when there is one."""
    prompt = check_prompt(req.prompt, "prompt", required=True)
    negative = check_prompt(req.negative_prompt, "negative_prompt", required=False)
    entry = catalog.resolve(req.model)

    task = req.task or (Task.I2V if req.image is not None or req.last_image is not None or input_image else Task.T2V)
    if task in (Task.EDIT, Task.EXTEND) and not can(entry, task):
        raise refuse_task(catalog, entry, task, param=req.model_param)
    if task not in (Task.EDIT, Task.EXTEND) and task not in entry.tasks:
        allowed = ", ".join(sorted(t.value for t in entry.tasks))
        raise InvalidRequest(
            f"Model '{entry.id}' does not support {'image' if task is Task.I2V else 'text'}-to-video "
            f"(it supports: {allowed}).",
            param=req.image_param if task is Task.I2V else "model",
        )

    resize = req.resize_method or RESIZE_METHODS[0]
    if resize not in RESIZE_METHODS:
        raise InvalidRequest(f"Invalid resize_method {shown(resize)}. Allowed: {', '.join(RESIZE_METHODS)}.",
                             param="resize_method")
    width, height = choose_size(entry, req.size, resize, image_size)
    size = f"{width}x{height}"

    fps = entry.fps if req.fps is None else req.fps
    _in_range(fps, *entry.fps_range, "fps", "fps")
    num_frames, seconds = resolve_frames(entry, req, fps)
    label = entry.resolution_of(size)
    allowed_here = entry.durations_by_resolution.get(label) if label else None
    if allowed_here is not None and req.num_frames is None and not req.segments and seconds not in allowed_here:
        raise InvalidRequest(
            f"Model '{entry.id}' does not offer {seconds} seconds at {label} ({size}). "
            f"At {label} it offers: {', '.join(map(str, allowed_here))}.", param="seconds")

    if req.last_image is not None and not entry.keyframes:
        raise InvalidRequest(f"Model '{entry.id}' does not take a last frame (keyframes); it takes only a first frame."
                             if Task.I2V in entry.tasks else f"Model '{entry.id}' takes no input images.",
                             param=req.last_image_param)
    if entry.last_frame_required and req.last_image is None:
        raise InvalidRequest(f"Model '{entry.id}' makes a video between a first and a last frame; send both "
                             f"({req.image_param} and {req.last_image_param}).", param=req.last_image_param)
    segments: tuple[tuple[str, int], ...] = ()
    if req.segments:
        segments = check_segments(entry, req.segments)
        if sum(f for _, f in segments) != num_frames:
            raise InvalidRequest(f"The segments add up to {sum(f for _, f in segments)} frames but num_frames is "
                                 f"{num_frames}; make them agree or leave num_frames out.", param="prompts")
    loras: tuple[tuple[str, float], ...] = ()
    if req.loras:
        if not entry.loras:
            raise InvalidRequest(f"Model '{entry.id}' (family {entry.family}) does not support LoRAs.", param="loras")
        for i, (name, weight) in enumerate(req.loras):
            if not name:
                raise InvalidRequest(f"loras[{i}] needs a name.", param=f"loras[{i}]")
            _in_range(weight, -2.0, 2.0, f"loras[{i}].strength", "a LoRA strength")
        loras = tuple((n, float(w)) for n, w in req.loras)
    if req.style is not None and req.style not in STYLES:
        raise InvalidRequest(f"Invalid style {shown(req.style)}. Allowed: {', '.join(STYLES)}.", param="style")
    options = check_options(entry, req.options)
    if "strength" in options and task is not Task.EDIT:
        # The catalog lists the edit strength among the options, but only an edit uses it: taken on
        # any other job it would be charged for and silently ignored.
        raise InvalidRequest(f"'strength' applies only to edits (POST /v1/videos/edits); this is a "
                             f"{_TASK_WORDS[task]} job. Leave it out.", param="strength")

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
        strength=check_strength(entry, req.strength) if task is Task.EDIT else None,
        source_frames=req.source_frames,
        segments=segments,
        loras=loras,
        style=req.style,
        speed=check_speed(entry, req.speed),
        options=options,
        resize_method=resize,
        title=check_title(req.title),
        extras=dict(req.extras),
    )
