"""From a JobSpec to frames to files: the part a worker and `reelforge generate` share.

Imports the engine lazily, so importing this module stays torch-free.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
from PIL import Image

from ..catalog import ModelEntry
from ..jobs import JobSpec
from ..media.images import spritesheet_jpeg, thumbnail_webp
from ..media.inputs import fit_image
from ..media.video import encode_mp4

if TYPE_CHECKING:
    from ..engine.runtime import Engine

OUTPUTS = {"video": "video.mp4", "thumbnail": "thumbnail.webp", "spritesheet": "spritesheet.jpg"}


def generate_frames(
    engine: "Engine", entry: ModelEntry, spec: JobSpec, image: Image.Image | None, on_step: Callable[[int, int], None]
) -> np.ndarray:
    from ..engine.adapters.base import GenerateRequest

    req = GenerateRequest.from_spec(spec, entry)
    if image is not None:
        # The input image is fitted to the generation size the same way for every family.
        req = dataclasses.replace(req, image=fit_image(image, req.width, req.height))
    return engine.run(entry, req, on_step)


def write_outputs(frames: np.ndarray, spec: JobSpec, out_dir: Path) -> dict[str, Path]:
    """Encode the mp4 at the requested size, a WebP thumbnail and a JPEG spritesheet."""
    size = (spec.width, spec.height)
    paths = {variant: out_dir / name for variant, name in OUTPUTS.items()}
    encode_mp4(frames, spec.fps, paths["video"], size=size)
    paths["thumbnail"].write_bytes(thumbnail_webp(frames, size=size))
    paths["spritesheet"].write_bytes(spritesheet_jpeg(frames))
    return paths
