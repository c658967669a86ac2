"""``BuiltinVideoPipeline``: the built-in tiny text/image-to-video model as a diffusers pipeline.

It generates at the native 32x32x8 and then resamples: frames are linearly interpolated in time
when ``num_frames`` differs from the native count (the motion is linear, so blending neighbouring
frames keeps it smooth), then each frame is upscaled bicubically to (height, width). A non-square
size widens the square canvas first by repeating its edge pixels (the world's backgrounds are flat,
so that reads as more background), rather than stretching circles into ellipses; an image-to-video
input is centre-cropped to the square the model continues.

Video-to-video (``video=``, ``strength``) is SDEdit, which a flow-matching denoiser does with no
retraining: the source clip is centre-cropped and resampled to the native 32x32x8, noised to the
scheduler's sigma at the first of the last ``int(steps * strength)`` steps (x_t = (1 - s) x0 + s noise,
the scheduler's ``scale_noise``), and only those steps run with the new prompt. The same truncation
rule as diffusers' video-to-video pipelines, so a strength means the same thing across families.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import PIL.Image
import PIL.ImageOps
import torch
import torch.nn.functional as F
from diffusers import DiffusionPipeline, FlowMatchEulerDiscreteScheduler
from diffusers.utils import BaseOutput

from .model import BuiltinVideoDenoiser
from .text import BuiltinTextEncoder


@dataclass
class BuiltinVideoPipelineOutput(BaseOutput):
    frames: Any  # np.ndarray (B, T, H, W, 3) in [0, 1], a tensor for "pt", or lists of PIL images


def _image_tensor(images: list[PIL.Image.Image], size: int) -> torch.Tensor:
    """PIL images -> (B, 3, size, size) in [-1, 1]: centre-cropped square, resized to the native size."""
    arrs = [np.asarray(PIL.ImageOps.fit(im.convert("RGB"), (size, size), PIL.Image.BICUBIC), np.float32) / 127.5 - 1.0
            for im in images]
    return torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2)


def _video_tensor(video: np.ndarray | torch.Tensor, frames: int, size: int) -> torch.Tensor:
    """A source clip (T, H, W, 3), uint8 or float in [0, 1] -> (1, 3, frames, size, size) in [-1, 1]:
    centre-cropped to a square (as image inputs are), resampled in time and space."""
    v = torch.as_tensor(np.asarray(video))
    if v.ndim != 4 or v.shape[-1] != 3 or v.shape[0] < 1:
        raise ValueError(f"video must be (T, H, W, 3); got {tuple(v.shape)}")
    v = v.float() / 255.0 if v.dtype == torch.uint8 else v.float()
    h, w = v.shape[1:3]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    v = v[:, top:top + side, left:left + side].permute(3, 0, 1, 2)[None]  # (1, 3, T, side, side)
    return resample(v, frames, size, size) * 2 - 1


def pad_to_aspect(video: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(B, C, T, h, w) widened (or heightened) by edge replication to the aspect ratio width:height."""
    h, w = video.shape[-2:]
    if width * h > height * w:  # wider than the canvas
        extra = int(round(h * width / height)) - w
        pad = (extra // 2, extra - extra // 2, 0, 0, 0, 0)
    else:
        extra = int(round(w * height / width)) - h
        pad = (0, 0, extra // 2, extra - extra // 2, 0, 0)
    return F.pad(video, pad, mode="replicate") if extra > 0 else video


def resample(video: torch.Tensor, num_frames: int, height: int, width: int) -> torch.Tensor:
    """(B, 3, T, h, w) in [0, 1] -> (B, 3, num_frames, height, width): linear in time, bicubic in space."""
    video = pad_to_aspect(video, height, width)
    b, c, t, h, w = video.shape
    if num_frames != t:
        video = F.interpolate(video, size=(num_frames, h, w), mode="trilinear", align_corners=True)
    if (height, width) != (h, w):
        flat = video.transpose(1, 2).reshape(b * num_frames, c, h, w)
        flat = F.interpolate(flat, size=(height, width), mode="bicubic", align_corners=False, antialias=height < h or width < w)
        video = flat.reshape(b, num_frames, c, height, width).transpose(1, 2)
    return video.clamp(0, 1)


class BuiltinVideoPipeline(DiffusionPipeline):
    model_cpu_offload_seq = "text_encoder->denoiser"

    def __init__(self, text_encoder: BuiltinTextEncoder, denoiser: BuiltinVideoDenoiser, scheduler: FlowMatchEulerDiscreteScheduler):
        super().__init__()
        self.register_modules(text_encoder=text_encoder, denoiser=denoiser, scheduler=scheduler)
        self._num_timesteps = 0

    @property
    def num_timesteps(self) -> int:
        return self._num_timesteps

    @property
    def native_size(self) -> tuple[int, int, int]:
        """(num_frames, height, width) the network generates before resampling."""
        cfg = self.denoiser.config
        return cfg.num_frames, cfg.sample_size, cfg.sample_size

    def _embed(self, prompts: list[str | None]) -> torch.Tensor:
        """One vector per prompt (None: the learned null vector), each encoded on its own: batched,
        the tokens would be padded to the longest prompt, and a sample's conditioning would depend
        on which others share its call."""
        enc = self.text_encoder
        return torch.cat([enc.null_embedding(1) if p is None else enc.encode([p]) for p in prompts]).to(
            self.device, torch.float32)

    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str],
        negative_prompt: str | list[str] | None = None,
        image: PIL.Image.Image | list[PIL.Image.Image] | None = None,
        video: np.ndarray | torch.Tensor | None = None,
        strength: float = 0.6,
        num_frames: int | None = None,
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int = 20,
        guidance_scale: float = 4.0,
        generator: torch.Generator | list[torch.Generator] | None = None,
        output_type: str = "np",
        return_dict: bool = True,
        callback_on_step_end: Callable[..., dict] | None = None,
        callback_on_step_end_tensor_inputs: list[str] = ("latents",),
    ) -> BuiltinVideoPipelineOutput | tuple:
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        b = len(prompts)
        t_native, size, _ = self.native_size
        num_frames, height, width = num_frames or t_native, height or size, width or size
        device = self.device
        # Shipped weights are fp16 on disk (size); compute in fp32, which CPUs run fast and exactly.
        self.text_encoder.float()
        self.denoiser.float()

        cond = self._embed(prompts)
        do_cfg = guidance_scale > 1.0
        if do_cfg:
            # Per sample: a list may mix negative prompts and None (no negative prompt).
            neg = [negative_prompt] * b if negative_prompt is None or isinstance(negative_prompt, str) else list(negative_prompt)
            if len(neg) != b:
                raise ValueError(f"{len(neg)} negative prompts for {b} prompts")
            text = torch.cat([self._embed(neg), cond])
        else:
            text = cond

        if video is not None and image is not None:
            raise ValueError("pass an image (image-to-video) or a video (video-to-video), not both")
        if video is not None and not 0.0 < strength <= 1.0:
            raise ValueError(f"strength must be in (0, 1]; got {strength}")
        first = None
        if image is not None:
            images = [image] * b if isinstance(image, PIL.Image.Image) else list(image)
            if len(images) != b:
                raise ValueError(f"{len(images)} images for {b} prompts")
            first = _image_tensor(images, size).to(device)

        shape = (b, 3, t_native, size, size)
        gens = generator if isinstance(generator, list) else [generator] * b
        if len(gens) != b:
            raise ValueError(f"{len(gens)} generators for {b} prompts")
        # Noise drawn on the CPU per sample so a seed gives the same clip on any device and batch.
        latents = torch.stack([torch.randn(shape[1:], generator=g) for g in gens]).to(device)
        noise0 = latents[:, :, 0].clone()

        self.scheduler.set_timesteps(num_inference_steps, device=device)
        timesteps = self.scheduler.timesteps
        sigmas = self.scheduler.sigmas
        if video is not None:
            run = min(int(num_inference_steps * strength), num_inference_steps)
            if run < 1:
                raise ValueError(f"strength {strength} with {num_inference_steps} steps leaves no step to run")
            start = num_inference_steps - run
            timesteps, sigmas = timesteps[start:], sigmas[start:]
            self.scheduler.set_begin_index(start)
            source = _video_tensor(video, t_native, size).to(device).expand(b, -1, -1, -1, -1)
            latents = self.scheduler.scale_noise(source, timesteps[:1], latents)
        self._num_timesteps = len(timesteps)
        for i, t in enumerate(timesteps):
            if first is not None:
                # Image-to-video: frame 0 of the noisy clip is the input image at this noise level.
                latents[:, :, 0] = (1 - sigmas[i]) * first + sigmas[i] * noise0
            x = torch.cat([latents, latents]) if do_cfg else latents
            ff = None if first is None else (torch.cat([first, first]) if do_cfg else first)
            x0 = self.denoiser(x, t.expand(x.shape[0]), text, ff)
            if do_cfg:
                x0_uncond, x0_cond = x0.chunk(2)
                x0 = x0_uncond + guidance_scale * (x0_cond - x0_uncond)
            # The network predicts the clean clip; the flow-matching scheduler steps along v.
            v = (latents - x0) / sigmas[i]
            latents = self.scheduler.step(v, t, latents, return_dict=False)[0]
            if callback_on_step_end is not None:
                local = {"latents": latents}
                out = callback_on_step_end(self, i, t, {k: local[k] for k in callback_on_step_end_tensor_inputs})
                latents = (out or {}).get("latents", latents)
        if first is not None:
            latents[:, :, 0] = first

        video = resample((latents.float().clamp(-1, 1) + 1) / 2, num_frames, height, width)
        frames: Any = video.permute(0, 2, 3, 4, 1)  # (B, T, H, W, 3)
        if output_type == "np":
            frames = frames.cpu().numpy()
        elif output_type == "pil":
            arr = (frames.cpu().numpy() * 255).round().astype(np.uint8)
            frames = [[PIL.Image.fromarray(f) for f in clip] for clip in arr]
        elif output_type != "pt":
            raise ValueError(f"output_type must be 'np', 'pt' or 'pil', not {output_type!r}")
        self.maybe_free_model_hooks()
        if not return_dict:
            return (frames,)
        return BuiltinVideoPipelineOutput(frames=frames)


def new_pipeline(channels: tuple[int, int, int] = (48, 96, 128), patch: int = 4, shift: float = 2.0) -> BuiltinVideoPipeline:
    """A randomly initialised pipeline (training starts here; tests use a tiny one)."""
    return BuiltinVideoPipeline(
        text_encoder=BuiltinTextEncoder(),
        denoiser=BuiltinVideoDenoiser(channels=channels, patch=patch),
        scheduler=FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=shift),
    )
