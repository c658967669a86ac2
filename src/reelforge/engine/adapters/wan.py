"""Wan 2.1 / 2.2: text-to-video with ``WanPipeline``, image-to-video with ``WanImageToVideoPipeline``.

One adapter for every Wan diffusers folder; what a folder can do follows from its weights:

* Wan 2.1 T2V (1.3B, 14B): transformer on the 16 latent channels -> t2v only.
* Wan 2.1 I2V (14B 480P/720P): 36-channel transformer (noise + 4 mask + 16 image latents) with a
  CLIP image context -> i2v from a first frame only.
* Wan 2.1 FLF2V (14B 720P): as I2V, but its image embedder has a position table over two images
  -> i2v that needs BOTH the first and the last frame.
* Wan 2.2 T2V/I2V A14B: two experts (``transformer`` above ``boundary_ratio``, ``transformer_2``
  below) with their own guidance (``guidance_scale_2``); the I2V one has no CLIP encoder and takes a
  first frame, optionally a last frame.
* Wan 2.2 TI2V-5B: one folder for t2v and i2v (``expand_timesteps``: the first frame is a clean
  latent with timestep 0); 48-channel VAE with 16x spatial compression; no last frame.

Edits (video-to-video) run ``WanVideoToVideoPipeline`` on the text-to-video modules: the source is
VAE-encoded, noised to the strength and denoised with the new prompt. It drives one transformer, so
it is offered on single-transformer text-to-video folders (Wan 2.1 T2V); two-expert 2.2 folders and
TI2V (whose first latent frame follows its own timestep rule) answer an edit with GenerationFailed.

The pipelines share one set of loaded modules, so an i2v request on a TI2V folder, or an edit,
costs no extra memory and no second load.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from diffusers import DiffusionPipeline, WanImageToVideoPipeline, WanPipeline, WanVideoToVideoPipeline

from ...errors import GenerationFailed, ModelUnavailable
from .base import (
    Adapter, GenerateRequest, OnStep, Progress, batch_call_kwargs, batch_frames, edit_kwargs, edit_steps,
    latent_frames, to_uint8_frames, video_call_kwargs,
)

if TYPE_CHECKING:
    from ...catalog import ModelEntry

_PIPELINES = {"WanPipeline", "WanImageToVideoPipeline"}


class WanAdapter(Adapter):
    family = "wan"
    batches = True  # text-to-video (generate_batch)
    edits = True

    def __init__(self, pipe: WanPipeline | WanImageToVideoPipeline, call_kwargs: dict[str, Any] | None = None,
                 flow_shift: float | None = None):
        settings = dict(
            boundary_ratio=pipe.config.get("boundary_ratio"),
            expand_timesteps=bool(pipe.config.get("expand_timesteps", False)),
        )
        modules = dict(
            tokenizer=pipe.tokenizer, text_encoder=pipe.text_encoder, vae=pipe.vae, scheduler=pipe.scheduler,
            transformer=pipe.transformer, transformer_2=getattr(pipe, "transformer_2", None),
        )
        denoiser = pipe.transformer if pipe.transformer is not None else pipe.transformer_2
        if denoiser is None:
            raise ModelUnavailable("this Wan folder has neither a transformer nor a transformer_2")
        self.denoiser_config = denoiser.config
        self.expand_timesteps = settings["expand_timesteps"]
        self.two_experts = settings["boundary_ratio"] is not None and modules["transformer_2"] is not None
        z, t = pipe.vae.config.z_dim, pipe.vae_scale_factor_temporal
        in_channels = denoiser.config.in_channels
        # t2v denoises the noise latents alone; Wan 2.1/2.2 i2v adds a t-channel frame mask and the
        # image latents; TI2V (expand_timesteps) puts the image latent in place of the first frame.
        can_t2v = in_channels == z
        can_i2v = self.expand_timesteps or in_channels == 2 * z + t

        self.t2v: WanPipeline | None = None
        self.i2v: WanImageToVideoPipeline | None = None
        if isinstance(pipe, WanImageToVideoPipeline):
            self.i2v = pipe
        elif can_t2v:
            self.t2v = pipe
        if self.t2v is None and can_t2v:
            self.t2v = WanPipeline(**modules, **settings)
        if self.i2v is None and can_i2v:
            self.i2v = WanImageToVideoPipeline(**modules, image_encoder=None, image_processor=None, **settings)
        if self.t2v is None and self.i2v is None:
            raise ModelUnavailable(
                f"this Wan folder's transformer takes {in_channels} input channels with a {z}-channel VAE, "
                f"which matches neither text-to-video ({z}) nor image-to-video ({2 * z + t})"
            )
        self.v2v: WanVideoToVideoPipeline | None = None
        if can_t2v and not self.expand_timesteps and modules["transformer"] is not None and not self.two_experts:
            self.v2v = WanVideoToVideoPipeline(
                tokenizer=pipe.tokenizer, text_encoder=pipe.text_encoder, transformer=pipe.transformer,
                vae=pipe.vae, scheduler=pipe.scheduler,
            )
        for p in (self.t2v, self.i2v, self.v2v):
            if p is not None:
                p.set_progress_bar_config(disable=True)

        # Wan 2.1 I2V/FLF2V condition on CLIP features of the frame(s); FLF2V's image embedder has a
        # position table over two images' tokens, so it needs both frames, and I2V takes exactly one.
        self.needs_clip = denoiser.config.get("image_dim") is not None
        self.flf2v = self.needs_clip and denoiser.config.get("pos_embed_seq_len") is not None
        self.base_scheduler = pipe.scheduler
        self.flow_shift = flow_shift
        # Per-checkpoint call settings from the catalog; none for the tiny models.
        self.call_kwargs = dict(call_kwargs or {})

    @classmethod
    def load(cls, entry: "ModelEntry", path: Path, device: torch.device, dtype: torch.dtype) -> "WanAdapter":
        path = Path(path)
        index = json.loads((path / "model_index.json").read_text())
        name = index.get("_class_name")
        if name not in _PIPELINES:
            raise ModelUnavailable(
                f"model '{entry.id}': {path} holds a {name}, but the wan adapter runs {' or '.join(sorted(_PIPELINES))}"
            )
        # The Wan docs recommend the VAE and the CLIP image encoder in float32 even when the
        # transformers run in bf16; a per-component dtype loads each of them once, in that dtype.
        dtypes = {"default": dtype, "vae": torch.float32, "image_encoder": torch.float32}
        pipe = DiffusionPipeline.from_pretrained(path, dtype=dtypes).to(device)
        return cls(pipe, entry.extra.get("call_kwargs"), entry.extra.get("flow_shift"))

    # -- request checks -------------------------------------------------------------------------

    def _pipeline_for(self, req: GenerateRequest) -> WanPipeline | WanImageToVideoPipeline | WanVideoToVideoPipeline:
        if req.video is not None:
            if req.image is not None or req.last_image is not None:
                raise GenerationFailed("an edit takes a source video only, not input images")
            if self.v2v is None:
                raise GenerationFailed(
                    "this Wan model cannot edit a video: video-to-video runs on single-transformer Wan 2.1 "
                    "text-to-video weights"
                )
            return self.v2v
        if req.last_image is not None and req.image is None:
            raise GenerationFailed("a last frame needs a first frame too: this Wan model has no last-frame-only mode")
        if req.image is None:
            if self.t2v is None:
                raise GenerationFailed("this Wan model is image-to-video only: it needs an input image")
            return self.t2v
        if self.i2v is None:
            raise GenerationFailed("this Wan model is text-to-video only: it cannot start from an image")
        if req.last_image is not None and self.expand_timesteps:
            raise GenerationFailed("this Wan 2.2 TI2V model conditions on the first frame only; it has no last-frame input")
        if self.needs_clip:
            if self.i2v.image_encoder is None or self.i2v.image_processor is None:
                raise GenerationFailed("this Wan image-to-video model has no image_encoder/image_processor in its folder")
            if self.flf2v and req.last_image is None:
                raise GenerationFailed("this Wan FLF2V model needs both a first frame and a last frame")
            if not self.flf2v and req.last_image is not None:
                raise GenerationFailed(
                    "this Wan 2.1 image-to-video model takes a first frame only; use the FLF2V model for a last frame"
                )
        return self.i2v

    def _check(self, pipe, req: GenerateRequest) -> None:
        # The pipeline would silently round off-grid sizes and frame counts (and return a
        # different shape); the catalog should never send them, so say so instead.
        patch = self.denoiser_config.patch_size
        mh, mw = pipe.vae_scale_factor_spatial * patch[1], pipe.vae_scale_factor_spatial * patch[2]
        if req.height % mh or req.width % mw or req.height < mh or req.width < mw:
            raise GenerationFailed(
                f"size {req.width}x{req.height} is not a multiple of {mw}x{mh}, which this Wan model needs"
            )
        t = pipe.vae_scale_factor_temporal
        if req.num_frames < 1 or (req.num_frames - 1) % t:
            raise GenerationFailed(f"num_frames={req.num_frames} is not {t}k+1, which this Wan model needs")

    # -- generation -----------------------------------------------------------------------------

    def _scheduler(self, req: GenerateRequest):
        """A fresh scheduler per call (shift from the request, else the catalog, else the folder)."""
        shift = req.options.get("flow_shift", self.flow_shift)
        config = dict(self.base_scheduler.config)
        if shift is not None:
            key = "flow_shift" if "flow_shift" in config else "shift"
            config[key] = float(shift)
        return type(self.base_scheduler).from_config(config)

    def generate(self, req: GenerateRequest, on_step: OnStep) -> np.ndarray:
        pipe = self._pipeline_for(req)
        self._check(pipe, req)
        pipe.scheduler = self._scheduler(req)
        edit = pipe is self.v2v
        progress = _progress(on_step, pipe, req, edit_steps(req) if edit else req.num_inference_steps)
        kwargs = self._kwargs(edit_kwargs(req, progress) if edit else video_call_kwargs(req, progress), req)
        if pipe is self.i2v:
            kwargs["image"] = req.image.convert("RGB")
            if req.last_image is not None:
                kwargs["last_image"] = req.last_image.convert("RGB")
        with progress.decoding(pipe.vae):
            out = pipe(**kwargs)
        return to_uint8_frames(out.frames, req)

    def generate_batch(self, reqs: list[GenerateRequest], on_step: OnStep) -> list[np.ndarray | GenerationFailed]:
        """Text-to-video requests in one call (per-sample prompts, negative prompts and seeds).
        Image-to-video runs one at a time: the Wan 2.1 pipeline repeats the CLIP embedding of its
        image by the batch size, so a list of images would not stay one image per sample."""
        if any(r.image is not None for r in reqs) or self.t2v is None:
            return super().generate_batch(reqs, on_step)
        pipe = self.t2v
        for req in reqs:
            self._check(pipe, req)
        first = reqs[0]  # compatible requests share size, frames, steps, guidance and options
        pipe.scheduler = self._scheduler(first)
        progress = _progress(on_step, pipe, first, first.num_inference_steps)
        kwargs = self._kwargs(batch_call_kwargs(reqs, progress), first)
        with progress.decoding(pipe.vae):
            out = pipe(**kwargs)
        return batch_frames(out.frames, reqs)

    def _kwargs(self, common: dict[str, Any], req: GenerateRequest) -> dict[str, Any]:
        """The family's own call arguments on top of the ones every pipeline takes."""
        kwargs: dict[str, Any] = dict(common, **self.call_kwargs)
        # The low-noise expert's guidance (Wan 2.2 A14B); it defaults to guidance_scale there, and a
        # single-transformer model has no second stage to apply it to, so it is ignored.
        if self.two_experts and req.options.get("guidance_scale_2") is not None:
            kwargs["guidance_scale_2"] = float(req.options["guidance_scale_2"])
        return kwargs


def _progress(on_step: OnStep, pipe, req: GenerateRequest, steps: int) -> Progress:
    # Wan's VAE decodes one latent frame per decoder call.
    return Progress(on_step, steps + latent_frames(req.num_frames, pipe.vae_scale_factor_temporal))
