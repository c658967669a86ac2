"""FastSVD: text-to-video as two stages in one job, text -> first frame -> video.

Stage 1 runs a text-to-image pipeline (an SD-Turbo-class model: 1-4 steps, guidance 0)
at the request size; stage 2 animates that image with Stable Video Diffusion
(:class:`~.svd.SVDAdapter`). A request that brings its own image skips stage 1
(plain image-to-video).

Weights: two diffusers folders. The catalog entry's ``source`` is the SVD folder/repo and
``extra["t2i_source"]`` names the text-to-image weights, in any source form the loader
knows (``builtin:<name>``, a local folder, a hub repo id); it is resolved through
``resolve_weights`` with a copy of the entry whose ``source`` is that value. Further
``extra`` keys: ``t2i_steps`` (default 1), ``t2i_guidance_scale`` (default 0.0) and
``default_options`` (SVD defaults, see ``svd.py``). A request may override the first two
with ``options["t2i_steps"]`` / ``options["t2i_guidance_scale"]``.

Progress is one monotone sequence over both stages:
``total = t2i_steps + svd_steps + svd_decode_chunks``; cancel (raising from ``on_step``)
works in either stage.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import torch
from diffusers import AutoPipelineForText2Image, DiffusionPipeline

from ...catalog.weights import BUILTIN_PREFIX
from ...errors import GenerationFailed, ModelUnavailable
from .base import Adapter, GenerateRequest, OnStep, Progress, seeded_generator
from .svd import SVDAdapter

if TYPE_CHECKING:
    from ...catalog import ModelEntry

DEFAULT_T2I_STEPS = 1  # SD-Turbo / SDXL-Turbo: one step
DEFAULT_T2I_GUIDANCE = 0.0  # turbo models are guidance-distilled: no CFG


def _models_dir_of(entry: "ModelEntry", path: Path) -> Path | None:
    """The ``models_dir`` that ``resolve_weights(entry, models_dir)`` turned into ``path``, if it can be told.

    ``Adapter.load`` gets only the resolved folder, so this undoes the loader's layout:
    ``<models_dir>/<name>`` for ``builtin:<name>``, ``<models_dir>/<relative source>`` for a
    relative folder or a hub id placed there, ``<models_dir>/hub/models--org--name/snapshots/<rev>``
    for the hub cache. An absolute source says nothing about ``models_dir``: None.
    """
    source = entry.source
    if source.startswith(BUILTIN_PREFIX):
        return path.parent
    given = Path(source).expanduser()
    if given.is_absolute():
        return None
    n = len(given.parts)
    if len(path.parts) > n and path.parts[-n:] == given.parts:
        return Path(*path.parts[:-n])
    parents = path.parents
    if len(parents) >= 3 and parents[0].name == "snapshots" and parents[1].name.startswith("models--"):
        return parents[2].parent  # parents[2] is <models_dir>/hub
    return None


def resolve_t2i_weights(entry: "ModelEntry", svd_path: Path) -> Path:
    """The local folder of the text-to-image weights named by ``entry.extra["t2i_source"]``."""
    from ..loader import resolve_weights

    t2i_source = entry.extra.get("t2i_source")
    if not t2i_source:
        raise ModelUnavailable(
            f"model '{entry.id}' (family fast-svd) needs extra['t2i_source']: the text-to-image weights "
            f"that make the first frame (e.g. 'stabilityai/sd-turbo' or 'builtin:sd-tiny-random')"
        )
    t2i_entry = dataclasses.replace(entry, source=str(t2i_source))
    if Path(str(t2i_source)).expanduser().is_absolute():
        return resolve_weights(t2i_entry, Path("/"))  # models_dir is unused for an absolute folder
    models_dir = _models_dir_of(entry, Path(svd_path))
    if models_dir is None:
        raise ModelUnavailable(
            f"model '{entry.id}': cannot tell the models folder from the SVD weights at {svd_path} "
            f"(source '{entry.source}'), so extra['t2i_source']='{t2i_source}' cannot be resolved; "
            f"give t2i_source as an absolute folder"
        )
    return resolve_weights(t2i_entry, models_dir)


class FastSVDAdapter(Adapter):
    family = "fast-svd"

    def __init__(self, t2i: DiffusionPipeline, svd: SVDAdapter, t2i_steps: int = DEFAULT_T2I_STEPS,
                 t2i_guidance_scale: float = DEFAULT_T2I_GUIDANCE):
        self.t2i = t2i
        self.svd = svd
        t2i.set_progress_bar_config(disable=True)
        self.t2i_steps = int(t2i_steps)
        self.t2i_guidance_scale = float(t2i_guidance_scale)

    @classmethod
    def load(cls, entry: "ModelEntry", path: Path, device: torch.device, dtype: torch.dtype) -> "FastSVDAdapter":
        t2i_path = resolve_t2i_weights(entry, path)
        svd = SVDAdapter.from_folder(path, device, dtype, entry.extra.get("default_options"))
        # The Auto pipeline picks the class from model_index.json (SD, SDXL, ...).
        t2i = AutoPipelineForText2Image.from_pretrained(t2i_path, dtype=dtype).to(device)
        return cls(
            t2i, svd,
            t2i_steps=entry.extra.get("t2i_steps", DEFAULT_T2I_STEPS),
            t2i_guidance_scale=entry.extra.get("t2i_guidance_scale", DEFAULT_T2I_GUIDANCE),
        )

    def _t2i_settings(self, options: Mapping[str, Any]) -> tuple[int, float]:
        steps = options.get("t2i_steps", self.t2i_steps)
        guidance = options.get("t2i_guidance_scale", self.t2i_guidance_scale)
        try:
            steps, guidance = int(steps), float(guidance)
        except (TypeError, ValueError):
            raise GenerationFailed(
                f"bad text-to-image settings t2i_steps={steps!r}, t2i_guidance_scale={guidance!r}"
            ) from None
        if not 1 <= steps <= 100:
            raise GenerationFailed(f"t2i_steps={steps} is out of range [1, 100]")
        return steps, guidance

    def first_frame(self, req: GenerateRequest, progress: Progress, steps: int, guidance: float):
        """Stage 1: the text-to-image still at the request size (a PIL image)."""
        if len(req.segments) > 1:
            raise GenerationFailed("fast-svd makes one first frame from one prompt; it cannot follow several segments")
        return self.t2i(
            prompt=req.prompt,
            # Ignored at guidance <= 1 (turbo), used by a non-turbo model with CFG.
            negative_prompt=req.negative_prompt if guidance > 1 else None,
            height=req.height,
            width=req.width,
            num_inference_steps=steps,
            guidance_scale=guidance,
            generator=seeded_generator(req.seed),
            output_type="pil",
            callback_on_step_end=progress.step_callback(steps),
        ).images[0]

    def generate(self, req: GenerateRequest, on_step: OnStep) -> np.ndarray:
        svd_ticks = self.svd.planned_ticks(req)  # also validates the SVD options before any work
        if req.image is not None:  # image-to-video: no first stage
            return self.svd.animate(req.image, req, Progress(on_step, svd_ticks))
        m = self.svd.pipe.vae_scale_factor
        if req.width % m or req.height % m:
            raise GenerationFailed(f"size {req.width}x{req.height} is not a multiple of {m}, which SVD needs")
        steps, guidance = self._t2i_settings(req.options)
        progress = Progress(on_step, steps + svd_ticks)
        image = self.first_frame(req, progress, steps, guidance)
        return self.svd.animate(image, req, progress)
