"""The built-in tiny model (``engine/builtin``): text-to-video and image-to-video with
``BuiltinVideoPipeline``, the default model of a fresh install.

It generates natively at 32x32 and 8 frames and resamples to the request's size and frame count
(see ``builtin/pipeline.py``), so any size and frame count is legal. It runs in float32 whatever
dtype the worker asks for: the network is tiny, CPUs have no fast fp16, and the shipped fp16 weights
are only a storage format.

Request mapping: prompt, negative prompt, steps, guidance, seed (a CPU generator) and frame count go
straight to the pipeline; ``image`` is the first frame; ``video`` + ``strength`` edit a source clip
(SDEdit, see ``builtin/pipeline.py``). It has no keyframes, LoRAs or native
multi-prompt (the worker chains segments through image-to-video), so those are refused here in
case a catalog entry claims otherwise.

Batches: ``generate_batch`` runs compatible text-to-video or image-to-video requests in one pipeline
call, with per-sample prompts, negative prompts, first frames and generators. Each sample's noise
comes from its own generator at its own shape and each prompt is encoded on its own, so only float
rounding in the batched network differs from a run alone (the catalog's max_batch for the model).

Progress: one ``on_step(done, total)`` per denoising step; there is no VAE to decode.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ...errors import GenerationFailed
from ..builtin.pipeline import BuiltinVideoPipeline
from .base import (Adapter, GenerateRequest, OnStep, batch_call_kwargs, batch_frames, edit_steps, edit_strength,
                   to_uint8_frames, video_call_kwargs)

if TYPE_CHECKING:
    from ...catalog import ModelEntry


class TinyAdapter(Adapter):
    family = "tiny"
    edits = True
    batches = True

    def __init__(self, pipe: BuiltinVideoPipeline):
        self.pipe = pipe
        pipe.set_progress_bar_config(disable=True)

    @classmethod
    def load(cls, entry: "ModelEntry", path: Path, device: torch.device, dtype: torch.dtype) -> "TinyAdapter":
        return cls(BuiltinVideoPipeline.from_pretrained(path, dtype=torch.float32).to(device))

    def generate(self, req: GenerateRequest, on_step: OnStep) -> np.ndarray:
        self._refuse_unsupported(req)
        image = None if req.image is None else req.image.convert("RGB")
        edit = {}
        if req.video is not None:
            if image is not None:
                raise GenerationFailed("an edit takes a source video or a first frame, not both")
            edit_steps(req)  # the same checks as every family's edit
            edit = dict(video=req.video, strength=edit_strength(req))
        out = self.pipe(image=image, **edit, **video_call_kwargs(req, on_step))
        return to_uint8_frames(out.frames, req)

    def generate_batch(self, reqs: list[GenerateRequest], on_step: OnStep) -> list[np.ndarray | GenerationFailed]:
        for req in reqs:
            self._refuse_unsupported(req)
        # None: the pipeline's learned null embedding, as for a request alone.
        kwargs = batch_call_kwargs(reqs, on_step, no_negative=None)
        image = None if reqs[0].image is None else [r.image.convert("RGB") for r in reqs]
        return batch_frames(self.pipe(image=image, **kwargs).frames, reqs)

    @staticmethod
    def _refuse_unsupported(req: GenerateRequest) -> None:
        if req.last_image is not None:
            raise GenerationFailed("the built-in tiny model continues a first frame only; it cannot take a last frame")
        if req.loras:
            raise GenerationFailed("the built-in tiny model has no LoRA support")
        if req.segments:
            raise GenerationFailed("the built-in tiny model follows one prompt per call; chain segments instead")
