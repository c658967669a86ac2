"""Stable Video Diffusion (Stability AI) and FastSVD (SD-Turbo text-to-image, then SVD XT)."""

from __future__ import annotations

from ..entry import FrameRule, ModelEntry, OptionSpec
from .presets import BOTH, I2V, RESIDENT, sizes_of


_SVD_OPTIONS = (
    OptionSpec("motion_bucket_id", int, 1, 255, 127, "more motion as it grows (Segmind: motion)"),
    OptionSpec("noise_aug_strength", float, 0.0, 1.0, 0.02, "noise added to the image (Segmind: cond_aug)"),
    OptionSpec("decode_chunk_size", int, 1, 25, 8, "frames decoded at once: lower uses less memory"),
    OptionSpec("min_guidance_scale", float, 0.0, 20.0, 1.0, "guidance at the first frame (rises to guidance_scale)"),
)
_SVD_MENU = {"576p": {"16:9": "1024x576", "9:16": "576x1024", "1:1": "576x576"}}


def _svd(id, source, frames, *, family="svd", tasks=I2V, extra=None, description=""):
    return ModelEntry(
        id=id, family=family, source=source, tasks=tasks, description=description,
        sizes=sizes_of(*_SVD_MENU.values()), default_size="1024x576", durations=(2,) if frames < 21 else (2, 3),
        default_seconds=2, fps=7,
        fps_range=(1, 60), frame_rule=FrameRule(1, 0), max_frames=frames, default_steps=25, max_steps=100,
        default_guidance=3.0, native_max_pixels=1024 * 576, native_multiple=64, resolutions=_SVD_MENU,
        options=_SVD_OPTIONS + ((OptionSpec("t2i_steps", int, 1, 50, 1, "text-to-image steps (stage 1)"),)
                                if family == "fast-svd" else ()),
        extra=extra or {},
        # 1.5B UNet (3 GB in fp16/bf16) fits anywhere. Its temporal VAE decoder has no tiling; the
        # decode_chunk_size option is how SVD bounds decode memory.
        memory=RESIDENT,
    )


SVD = (
    _svd("svd", "stabilityai/stable-video-diffusion-img2vid", 14,
         description="Stable Video Diffusion: animates an image, 14 frames at 1024x576."),
    _svd("svd-xt", "stabilityai/stable-video-diffusion-img2vid-xt", 25,
         description="Stable Video Diffusion XT: animates an image, 25 frames at 1024x576."),
    _svd("fast-svd", "stabilityai/stable-video-diffusion-img2vid-xt", 25, family="fast-svd", tasks=BOTH,
         extra={"t2i_source": "stabilityai/sd-turbo", "t2i_steps": 1, "t2i_guidance_scale": 0.0},
         description="Text to image (SD-Turbo) then Stable Video Diffusion XT, in one job (Vyro's fast-svd)."),
)
