"""From a JobSpec to frames to files: the part a worker and `reelforge generate` share.

Imports the engine lazily, so importing this module stays torch-free.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
from PIL import Image

from ..catalog import STYLES, ModelEntry
from ..catalog.weights import find_lora, lora_not_found
from ..errors import ModelUnavailable
from ..jobs import JobSpec
from ..media.gif import gif_from_frames
from ..media.images import spritesheet_jpeg, thumbnail_webp
from ..media.inputs import fit_image
from ..media.video import encode_mp4

if TYPE_CHECKING:
    from ..engine.runtime import Engine

OUTPUTS = {"video": "video.mp4", "thumbnail": "thumbnail.webp", "spritesheet": "spritesheet.jpg", "gif": "video.gif"}
OnStep = Callable[[int, int], None]


def styled(prompt: str, style: str | None) -> str:
    return STYLES[style].format(prompt=prompt) if style else prompt


def resolve_lora(name: str, models_dir: Path) -> Path:
    """A LoRA by name (``catalog.weights``' rule). Submission checked it; it may have gone since."""
    path = find_lora(name, models_dir)
    if path is None:
        raise ModelUnavailable(lora_not_found(name, models_dir))
    return path


def generate_frames(
    engine: "Engine", entry: ModelEntry, spec: JobSpec, image: Image.Image | None, on_step: OnStep,
    *, last_image: Image.Image | None = None,
) -> np.ndarray:
    from ..engine.adapters.base import GenerateRequest, LoraWeight, Segment

    req = GenerateRequest.from_spec(spec, entry)

    def fit(im: Image.Image) -> Image.Image:
        return fit_image(im, req.width, req.height)

    req = dataclasses.replace(
        req,
        prompt=styled(spec.prompt, spec.style),
        # Input images are fitted to the generation size the same way for every family.
        image=fit(image) if image is not None else None,
        last_image=fit(last_image) if last_image is not None else None,
        loras=tuple(LoraWeight(resolve_lora(n, engine.models_dir), w) for n, w in spec.loras),
        options=dict(spec.options),
    )
    segments = tuple(Segment(styled(p, spec.style), n) for p, n in spec.segments)
    if segments and not entry.prompt_travel:
        return _chain(engine, entry, req, segments, on_step)
    return engine.run(entry, dataclasses.replace(req, segments=segments), on_step)


def _chain(engine: "Engine", entry: ModelEntry, req, segments, on_step: OnStep) -> np.ndarray:
    """Multi-prompt for families without prompt travel: each segment is its own clip, started from
    the last frame of the one before through the family's image-to-video pipeline.

    Every segment keeps all its frames (the junction frame appears twice) so the video has exactly
    the frame count the job promised."""
    clips = []
    image = req.image
    finished = 0  # ticks of the segments already done
    for i, seg in enumerate(segments):
        last = req.last_image if i == len(segments) - 1 else None
        part = dataclasses.replace(req, prompt=seg.prompt, num_frames=seg.num_frames, image=image, last_image=last,
                                   seed=req.seed + i, segments=())
        seen = [0]

        def step(done: int, total: int, i: int = i, seen: list[int] = seen) -> None:
            # One monotone span over all segments: the ones still to come are assumed to take as
            # many ticks (steps + decode) as this one.
            seen[0] = total
            on_step(finished + done, finished + total * (len(segments) - i))

        clip = engine.run(entry, part, step)
        finished += seen[0]
        clips.append(clip)
        image = Image.fromarray(clip[-1])
    return np.concatenate(clips, axis=0)


def write_outputs(frames: np.ndarray, spec: JobSpec, out_dir: Path) -> dict[str, Path]:
    """Encode the mp4 at the requested size, a WebP thumbnail, a JPEG spritesheet and a GIF."""
    size = (spec.width, spec.height)
    paths = {variant: out_dir / name for variant, name in OUTPUTS.items()}
    encode_mp4(frames, spec.fps, paths["video"], size=size)
    paths["thumbnail"].write_bytes(thumbnail_webp(frames, size=size))
    paths["spritesheet"].write_bytes(spritesheet_jpeg(frames))
    paths["gif"].write_bytes(gif_from_frames(frames, spec.fps, size=size))
    return paths
