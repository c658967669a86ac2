"""From a JobSpec to frames to files: the part a worker and `reelforge generate` share.

Imports the engine lazily, so importing this module stays torch-free.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
from PIL import Image

from ..catalog import STYLES, ModelEntry
from ..catalog.weights import find_lora, lora_not_found
from ..errors import GenerationFailed, ModelUnavailable
from ..jobs import JobSpec, Task
from ..media.gif import gif_from_frames
from ..media.images import spritesheet_jpeg, thumbnail_webp
from ..media.inputs import fit_image
from ..media.video import encode_mp4, frame_picks, resize_frames

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


def fit_clip(frames: np.ndarray, width: int, height: int, num_frames: int) -> np.ndarray:
    """A decoded clip as ``num_frames`` frames of width x height: each frame fitted like an input image
    (scaled to cover, centre-cropped), and the nearest source frame taken for each output frame, so
    the first and the last frame are kept as they are (an extension's seam is the last one)."""
    return np.stack([np.asarray(fit_image(Image.fromarray(frames[i]), width, height))
                     for i in frame_picks(len(frames), num_frames)])


def source_picks(spec: JobSpec) -> int | None:
    """How many frames of an edit's or extension's source the job uses (None: all of them), so the
    worker decodes only those: an edit resamples the source to its own frame count, an extension
    keeps the ``source_frames`` the service counted."""
    if spec.task is Task.EDIT:
        return spec.num_frames
    if spec.task is Task.EXTEND:
        return spec.source_frames or None
    return None


def generate_frames(
    engine: "Engine", entry: ModelEntry, spec: JobSpec, image: Image.Image | None, on_step: OnStep,
    *, last_image: Image.Image | None = None, video: np.ndarray | None = None,
) -> np.ndarray:
    """The job's frames. ``video`` is the decoded source clip of an edit or an extension."""
    if spec.task is Task.EXTEND:
        if video is None:
            raise GenerationFailed("an extension needs its source video")
        return _extend(engine, entry, spec, video, on_step)
    from ..engine.adapters.base import Segment

    req = generation_request(engine, entry, spec, image, last_image)
    if spec.task is Task.EDIT:
        if video is None:
            raise GenerationFailed("an edit needs its source video")
        # The source at the generation size and the job's frame count; the strength from the spec
        # (or a catalog option a client set), else the adapter's default.
        strength = spec.strength if spec.strength is not None else spec.options.get("strength")
        req = dataclasses.replace(req, video=fit_clip(video, req.width, req.height, spec.num_frames),
                                  strength=None if strength is None else float(strength))
    segments = tuple(Segment(styled(p, spec.style), n) for p, n in spec.segments)
    if segments and not entry.prompt_travel:
        return _chain(engine, entry, req, segments, on_step)
    return engine.run(entry, dataclasses.replace(req, segments=segments), on_step)


def generation_request(engine: "Engine", entry: ModelEntry, spec: JobSpec, image: Image.Image | None,
                       last_image: Image.Image | None = None):
    """The engine's request for a job, at the model's native size."""
    from ..engine.adapters.base import GenerateRequest, LoraWeight

    req = GenerateRequest.from_spec(spec, entry)

    def fit(im: Image.Image) -> Image.Image:
        return fit_image(im, req.width, req.height)

    return dataclasses.replace(
        req,
        prompt=styled(spec.prompt, spec.style),
        # Input images are fitted to the generation size the same way for every family.
        image=fit(image) if image is not None else None,
        last_image=fit(last_image) if last_image is not None else None,
        loras=tuple(LoraWeight(resolve_lora(n, engine.models_dir), w) for n, w in spec.loras),
        options=dict(spec.options),
    )


def generate_batch(engine: "Engine", entry: ModelEntry, specs: list[JobSpec], images: list[Image.Image | None],
                   on_step: OnStep) -> list[np.ndarray | GenerationFailed]:
    """Compatible jobs (``store.batches``) in one pipeline call: each job's frames, or the error of a
    sample that alone went wrong; a failure of the whole call raises."""
    reqs = [generation_request(engine, entry, spec, image) for spec, image in zip(specs, images)]
    return engine.run_batch(entry, reqs, on_step)


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


def _extend(engine: "Engine", entry: ModelEntry, spec: JobSpec, video: np.ndarray, on_step: OnStep) -> np.ndarray:
    """The source, then ``spec.num_frames`` generated from its last frame through image-to-video,
    minus the generated first frame (it repeats the seam): one clip of
    ``source_frames + num_frames - 1`` frames at the job's output size."""
    source = extension_source(spec, video)
    return np.concatenate([source, continuation(engine, entry, spec, source, on_step)[1:]])


def extension_source(spec: JobSpec, video: np.ndarray) -> np.ndarray:
    """An extension's source frames as they open the output: ``spec.source_frames`` of them (the
    service counts them at the job's fps; 0: as decoded) at the output size, so the source keeps its
    resolution when the model generates smaller."""
    return fit_clip(video, spec.width, spec.height, spec.source_frames or len(video))


def continuation(engine: "Engine", entry: ModelEntry, spec: JobSpec, source: np.ndarray, on_step: OnStep) -> np.ndarray:
    """``spec.num_frames`` frames at the output size, generated from ``source``'s last frame; the
    first is that frame as the model redraws it."""
    generated = generate_frames(engine, entry, spec.replace(task=Task.I2V), Image.fromarray(source[-1]), on_step)
    return resize_frames(generated, spec.width, spec.height)


def write_outputs(frames: np.ndarray, spec: JobSpec, out_dir: Path) -> dict[str, Path]:
    """Encode the mp4 at the requested size, a WebP thumbnail, a JPEG spritesheet and a GIF."""
    size = (spec.width, spec.height)
    paths = {variant: out_dir / name for variant, name in OUTPUTS.items()}

    def images() -> None:
        paths["thumbnail"].write_bytes(thumbnail_webp(frames, size=size))
        paths["spritesheet"].write_bytes(spritesheet_jpeg(frames))
        paths["gif"].write_bytes(gif_from_frames(frames, spec.fps, size=size))

    # The images beside the encode: x264, swscale and Pillow's resize and quantize all release the
    # GIL, so the derived images cost little more than the mp4 alone.
    with ThreadPoolExecutor(1, thread_name_prefix="derive") as pool:
        derived = pool.submit(images)
        encode_mp4(frames, spec.fps, paths["video"], size=size)
        derived.result()
    return paths
