"""HunyuanVideo: text-to-video with ``HunyuanVideoPipeline``.

Guidance: HunyuanVideo (the released T2V weights) is *guidance-distilled*. The
transformer takes the guidance strength as an input (``guidance_embeds=True``) and
produces, in one pass, what classic CFG would produce in two. So ``req.guidance_scale``
maps to the pipeline's ``guidance_scale`` (the embedded guidance; 6.0 by default), and
``negative_prompt`` has no effect there: there is no unconditional pass to steer.
Real classifier-free guidance with a negative prompt is the pipeline's
``true_cfg_scale``: a second transformer pass per step (twice the cost), enabled only
when ``true_cfg_scale > 1`` *and* a negative prompt is given. It is opt-in through
``req.options["true_cfg_scale"]``; without it a negative prompt is ignored.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from diffusers import HunyuanVideoPipeline
from diffusers.pipelines.hunyuan_video.pipeline_hunyuan_video import DEFAULT_PROMPT_TEMPLATE

from ...errors import GenerationFailed
from .base import Adapter, GenerateRequest, OnStep, Progress, to_uint8_frames, video_call_kwargs

if TYPE_CHECKING:
    from ...catalog import ModelEntry

log = logging.getLogger(__name__)


def prompt_template_for(tokenizer, template: dict[str, Any] = DEFAULT_PROMPT_TEMPLATE) -> dict[str, Any]:
    """``template`` with ``crop_start`` = the number of tokens ``tokenizer`` makes of the part before the prompt.

    The pipeline crops ``crop_start`` tokens off the LLaMA hidden states so that only the
    prompt's tokens condition the video; the default (95) is the count for the released
    LLaMA-3 tokenizer. Counting with the loaded tokenizer keeps the crop exact for any
    tokenizer (the tiny test one makes 99). If the prefix does not tokenize the same alone
    as in front of a prompt (a token merging across the boundary), the count would be
    wrong, so the template's own value is kept.
    """
    text = template["template"]
    prefix = text.split("{}", 1)[0]
    prefix_ids = tokenizer(prefix)["input_ids"]
    full_ids = tokenizer(text.format("a cat"))["input_ids"]
    if getattr(tokenizer, "padding_side", "right") != "right" or full_ids[: len(prefix_ids)] != prefix_ids:
        log.warning("HunyuanVideo: cannot count the prompt template's tokens with this tokenizer; keeping crop_start=%s",
                    template.get("crop_start"))
        return dict(template)
    return {**template, "crop_start": len(prefix_ids)}


class HunyuanAdapter(Adapter):
    family = "hunyuan"

    def __init__(self, pipe: HunyuanVideoPipeline, call_kwargs: dict[str, Any] | None = None,
                 prompt_template: dict[str, Any] | None = None):
        self.pipe = pipe
        self.pipe.set_progress_bar_config(disable=True)
        # A catalog entry may pin its own template (with crop_start); else derive the crop.
        self.prompt_template = dict(prompt_template) if prompt_template else prompt_template_for(pipe.tokenizer)
        self.call_kwargs = dict(call_kwargs or {})

    @classmethod
    def load(cls, entry: "ModelEntry", path: Path, device: torch.device, dtype: torch.dtype) -> "HunyuanAdapter":
        pipe = HunyuanVideoPipeline.from_pretrained(path, dtype=dtype).to(device)
        return cls(pipe, entry.extra.get("call_kwargs"), entry.extra.get("prompt_template"))

    def _check(self, req: GenerateRequest) -> None:
        if req.image is not None:
            raise GenerationFailed("HunyuanVideo here is text-to-video only: send no input image")
        # The pipeline requires multiples of 16; the transformer patches the latent by patch_size.
        grid = max(16, self.pipe.vae_scale_factor_spatial * self.pipe.transformer.config.patch_size)
        if req.width % grid or req.height % grid:
            raise GenerationFailed(f"size {req.width}x{req.height} is not a multiple of {grid}, which HunyuanVideo needs")
        # The causal VAE decodes L latent frames into 4(L-1)+1; other counts come back shorter.
        t = self.pipe.vae_scale_factor_temporal
        if req.num_frames < 1 or (req.num_frames - 1) % t:
            raise GenerationFailed(f"num_frames={req.num_frames} is not {t}k+1, which HunyuanVideo needs")

    def generate(self, req: GenerateRequest, on_step: OnStep) -> np.ndarray:
        self._check(req)
        # guidance_scale is the embedded (distilled) guidance, see the module docstring; the negative
        # prompt only counts with true CFG, below.
        # One decoder call for the whole clip, unless the VAE tiles it (then the total grows per tile).
        progress = Progress(on_step, req.num_inference_steps + 1)
        kwargs: dict[str, Any] = video_call_kwargs(req, progress)
        del kwargs["negative_prompt"]
        kwargs.update(prompt_template=self.prompt_template, **self.call_kwargs)
        true_cfg = float(req.options.get("true_cfg_scale", 1.0))
        if true_cfg > 1.0 and req.negative_prompt:
            kwargs["true_cfg_scale"] = true_cfg
            kwargs["negative_prompt"] = req.negative_prompt
        with progress.decoding(self.pipe.vae):
            out = self.pipe(**kwargs)
        return to_uint8_frames(out.frames, req)
