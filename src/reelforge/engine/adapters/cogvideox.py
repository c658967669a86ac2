"""CogVideoX (1.0 and 1.5): text-to-video with ``CogVideoXPipeline``, image-to-video with
``CogVideoXImageToVideoPipeline``.

One checkpoint serves one task: the I2V transformer takes the image latents
concatenated to the noise, so its ``in_channels`` is twice the VAE's latent channels
(``THUDM/CogVideoX-5b`` vs ``THUDM/CogVideoX-5b-I2V``). The adapter reads that from the
loaded transformer and answers the other task with a clear ``GenerationFailed``.

A text-to-video checkpoint also edits (video-to-video) with ``CogVideoXVideoToVideoPipeline``,
built from the same five components: the source is VAE-encoded, noised to the strength and
denoised with the new prompt. I2V checkpoints cannot (their transformer wants image latents too).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from diffusers import CogVideoXImageToVideoPipeline, CogVideoXPipeline, CogVideoXVideoToVideoPipeline

from ...errors import GenerationFailed
from .base import (
    Adapter, GenerateRequest, OnStep, Progress, batch_call_kwargs, batch_frames, edit_kwargs, edit_steps,
    latent_frames, to_uint8_frames, video_call_kwargs,
)

if TYPE_CHECKING:
    from ...catalog import ModelEntry


def is_image_to_video(pipe: CogVideoXPipeline | CogVideoXImageToVideoPipeline) -> bool:
    return pipe.transformer.config.in_channels == 2 * pipe.vae.config.latent_channels


class CogVideoXAdapter(Adapter):
    family = "cogvideox"
    edits = True
    batches = True  # text-to-video checkpoints (generate_batch)

    def __init__(
        self, pipe: CogVideoXPipeline | CogVideoXImageToVideoPipeline, call_kwargs: dict[str, Any] | None = None
    ):
        # Rebuild from components so the pipeline class follows the weights, whatever class
        # model_index.json names (no copy: both classes take the same five components).
        if is_image_to_video(pipe):
            self.task = "i2v"
            if not isinstance(pipe, CogVideoXImageToVideoPipeline):
                pipe = CogVideoXImageToVideoPipeline(**pipe.components)
        else:
            self.task = "t2v"
            if type(pipe) is not CogVideoXPipeline:
                pipe = CogVideoXPipeline(**pipe.components)
        self.pipe = pipe
        self.pipe.set_progress_bar_config(disable=True)
        self.v2v = CogVideoXVideoToVideoPipeline(**pipe.components) if self.task == "t2v" else None
        if self.v2v is not None:
            self.v2v.set_progress_bar_config(disable=True)
        self.call_kwargs = dict(call_kwargs or {})

    @classmethod
    def load(cls, entry: "ModelEntry", path: Path, device: torch.device, dtype: torch.dtype) -> "CogVideoXAdapter":
        pipe = CogVideoXPipeline.from_pretrained(path, dtype=dtype).to(device)
        return cls(pipe, entry.extra.get("call_kwargs"))

    @property
    def transformer_config(self):
        return self.pipe.transformer.config

    def _check(self, req: GenerateRequest) -> None:
        if req.video is not None and self.v2v is None:
            raise GenerationFailed(
                "this CogVideoX image-to-video checkpoint cannot edit a video; use a text-to-video CogVideoX checkpoint"
            )
        if req.video is not None and req.image is not None:
            raise GenerationFailed("an edit takes a source video only, not an input image")
        if req.image is not None and self.task == "t2v":
            raise GenerationFailed(
                "this CogVideoX checkpoint is text-to-video only (its transformer takes no image latents); "
                "use a CogVideoX *-I2V checkpoint for image-to-video"
            )
        if req.image is None and req.video is None and self.task == "i2v":
            raise GenerationFailed(
                "this CogVideoX checkpoint is image-to-video only: send an input image, "
                "or use a text-to-video CogVideoX checkpoint"
            )
        cfg = self.transformer_config
        grid = self.pipe.vae_scale_factor_spatial * cfg.patch_size
        if req.width % grid or req.height % grid:
            # The pipeline checks only multiples of 8; off the patch grid the transformer fails
            # or drops pixels.
            raise GenerationFailed(
                f"size {req.width}x{req.height} is not a multiple of {grid}, which this CogVideoX model needs"
            )
        if cfg.use_learned_positional_embeddings:
            # CogVideoX-5b-I2V: learned positions exist only for the trained size.
            h = cfg.sample_height * self.pipe.vae_scale_factor_spatial
            w = cfg.sample_width * self.pipe.vae_scale_factor_spatial
            if (req.width, req.height) != (w, h):
                raise GenerationFailed(
                    f"size {req.width}x{req.height}: this CogVideoX model has learned positional embeddings "
                    f"and only generates {w}x{h}"
                )
        # The VAE decodes L latent frames into 4(L-1)+1 frames when L is odd but 4L when L is
        # even, and the pipeline makes L = (num_frames-1)//4 + 1. So only 8k+1 frame counts
        # come back unchanged (49 -> 13 latents -> 49); e.g. 13 frames return 16 and 48
        # return 49. CogVideoX 1.5 (patch_size_t=2) pads L to even for the transformer but
        # drops the padding before decoding, so the same 8k+1 rule holds there (its model
        # card asks for 16k+1: 81 or 161; the catalog narrows that).
        t = self.pipe.vae_scale_factor_temporal * 2
        if req.num_frames < 1 or (req.num_frames - 1) % t:
            raise GenerationFailed(
                f"num_frames={req.num_frames} is not {t}k+1, which this CogVideoX model needs "
                f"(other counts come back with a different number of frames)"
            )

    def generate(self, req: GenerateRequest, on_step: OnStep) -> np.ndarray:
        self._check(req)
        edit = req.video is not None
        pipe = self.v2v if edit else self.pipe
        progress = self._progress(on_step, req, edit_steps(req) if edit else req.num_inference_steps)
        kwargs = self._kwargs(edit_kwargs(req, progress) if edit else video_call_kwargs(req, progress), req)
        if self.task == "i2v":
            kwargs["image"] = req.image.convert("RGB")
        with progress.decoding(pipe.vae):
            out = pipe(**kwargs)
        return to_uint8_frames(out.frames, req)

    def generate_batch(self, reqs: list[GenerateRequest], on_step: OnStep) -> list[np.ndarray | GenerationFailed]:
        """Text-to-video requests in one call (per-sample prompts, negative prompts and seeds); an
        image-to-video checkpoint runs its requests one at a time."""
        if self.task != "t2v":
            return super().generate_batch(reqs, on_step)
        for req in reqs:
            self._check(req)
        first = reqs[0]  # compatible requests share size, frames, steps, guidance and options
        progress = self._progress(on_step, first, first.num_inference_steps)
        kwargs = self._kwargs(batch_call_kwargs(reqs, progress), first)
        with progress.decoding(self.pipe.vae):
            out = self.pipe(**kwargs)
        return batch_frames(out.frames, reqs)

    def _progress(self, on_step: OnStep, req: GenerateRequest, steps: int) -> Progress:
        # CogVideoX's VAE decodes two latent frames per decoder call.
        latents = latent_frames(req.num_frames, self.pipe.vae_scale_factor_temporal)
        return Progress(on_step, steps + max(latents // 2, 1))

    def _kwargs(self, common: dict[str, Any], req: GenerateRequest) -> dict[str, Any]:
        """The family's own call arguments on top of the ones every pipeline takes."""
        kwargs: dict[str, Any] = dict(
            common,
            # The transformer has exactly this many text positions (226 on real weights).
            max_sequence_length=self.transformer_config.max_text_seq_length,
            **self.call_kwargs,
        )
        if "use_dynamic_cfg" in req.options:
            kwargs["use_dynamic_cfg"] = bool(req.options["use_dynamic_cfg"])
        return kwargs
