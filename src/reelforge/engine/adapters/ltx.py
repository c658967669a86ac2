"""LTX-Video: text-to-video with ``LTXPipeline``, image-to-video with ``LTXImageToVideoPipeline``,
and first + last frame keyframes with ``LTXConditionPipeline`` where diffusers has it.

All pipelines share one set of loaded components, so an i2v or keyframe request costs
no extra memory and no second load. Compatible text-to-video or image-to-video requests run as one
batched call (per-sample prompts, negative prompts, first frames and generators).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from diffusers import LTXImageToVideoPipeline, LTXPipeline

try:  # diffusers >= 0.33
    from diffusers import LTXConditionPipeline
    from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition
except ImportError:
    LTXConditionPipeline = LTXVideoCondition = None

from ...errors import GenerationFailed
from .base import Adapter, GenerateRequest, OnStep, batch_call_kwargs, batch_frames, to_uint8_frames, video_call_kwargs

if TYPE_CHECKING:
    from ...catalog import ModelEntry


class LTXAdapter(Adapter):
    family = "ltx"
    batches = True

    def __init__(self, t2v: LTXPipeline, call_kwargs: dict[str, Any] | None = None):
        self.t2v = t2v
        self.i2v = LTXImageToVideoPipeline(**t2v.components)
        # Frames conditioned anywhere in the clip (first + last): trained into LTX 0.9.5 and later.
        self.keyframes = None if LTXConditionPipeline is None else LTXConditionPipeline(**t2v.components)
        for pipe in (self.t2v, self.i2v, self.keyframes):
            if pipe is not None:
                pipe.set_progress_bar_config(disable=True)
        # Per-checkpoint call settings from the catalog (e.g. LTX 0.9.1+ wants
        # decode_timestep=0.05, decode_noise_scale=0.025); none for the tiny model.
        self.call_kwargs = dict(call_kwargs or {})

    @classmethod
    def load(cls, entry: "ModelEntry", path: Path, device: torch.device, dtype: torch.dtype) -> "LTXAdapter":
        pipe = LTXPipeline.from_pretrained(path, dtype=dtype).to(device)
        return cls(pipe, entry.extra.get("call_kwargs"))

    def _check(self, req: GenerateRequest) -> None:
        # The catalog validates at submission; this catches a catalog entry that does not
        # match its weights, which LTX would otherwise answer with silently cropped frames.
        s, t = self.t2v.vae_spatial_compression_ratio, self.t2v.vae_temporal_compression_ratio
        if req.width % s or req.height % s:
            raise GenerationFailed(f"size {req.width}x{req.height} is not a multiple of {s}, which this LTX model needs")
        if req.num_frames < 1 or (req.num_frames - 1) % t:
            raise GenerationFailed(f"num_frames={req.num_frames} is not {t}k+1, which this LTX model needs")

    def generate(self, req: GenerateRequest, on_step: OnStep) -> np.ndarray:
        self._check(req)
        kwargs: dict[str, Any] = dict(
            video_call_kwargs(req, on_step),
            frame_rate=req.fps,  # LTX conditions its RoPE on the frame rate
            **self.call_kwargs,
        )
        if req.last_image is not None:
            out = self._keyframes(req, kwargs)
        elif req.image is not None:
            out = self.i2v(image=req.image.convert("RGB"), **kwargs)
        else:
            out = self.t2v(**kwargs)
        return to_uint8_frames(out.frames, req)

    def generate_batch(self, reqs: list[GenerateRequest], on_step: OnStep) -> list[np.ndarray | GenerationFailed]:
        """Text-to-video or image-to-video requests in one call of the same pipelines."""
        for req in reqs:
            self._check(req)
        kwargs = dict(batch_call_kwargs(reqs, on_step), frame_rate=reqs[0].fps, **self.call_kwargs)
        if reqs[0].image is None:
            out = self.t2v(**kwargs)
        else:
            out = self.i2v(image=[r.image.convert("RGB") for r in reqs], **kwargs)
        return batch_frames(out.frames, reqs)

    def _keyframes(self, req: GenerateRequest, kwargs: dict[str, Any]):
        """Pin the first frame (if given) to ``req.image`` and the last frame to ``req.last_image``."""
        if self.keyframes is None:
            raise GenerationFailed(
                "keyframes (a last frame) need diffusers' LTXConditionPipeline, which this diffusers version lacks"
            )
        conditions = [LTXVideoCondition(image=req.last_image.convert("RGB"), frame_index=req.num_frames - 1)]
        if req.image is not None:
            conditions.insert(0, LTXVideoCondition(image=req.image.convert("RGB"), frame_index=0))
        return self.keyframes(conditions=conditions, **kwargs)
