"""LTX-Video (Lightricks): fast DiT text/image-to-video at 24 fps."""

from __future__ import annotations

from ..entry import FrameRule, ModelEntry
from .presets import BOTH, RESIDENT_TILED


def _ltx(id, source, *, keyframes=False, extra=None, description=""):
    # 2B transformer (4 GB in bf16) + T5-XXL (9.5 GB): resident on a 24 GB card; its VAE decodes up to
    # 257 frames at 1216x704, which needs tiling.
    return ModelEntry(
        id=id, family="ltx", source=source, tasks=BOTH, description=description,
        sizes=("704x480", "480x704", "1216x704", "704x1216"), default_size="704x480",
        durations=(2, 4, 6, 8, 10), default_seconds=4, fps=24, fps_range=(8, 30), frame_rule=FrameRule(8, 1),
        max_frames=257, default_steps=50, max_steps=100, default_guidance=3.0, native_max_pixels=1216 * 704,
        resolutions={"480p": {"3:2": "704x480", "2:3": "480x704"}, "720p": {"16:9": "1216x704", "9:16": "704x1216"}},
        # Long clips at 720p exceed what the model was trained on; the menu offers short ones only.
        durations_by_resolution={"720p": (2, 4, 6)},
        keyframes=keyframes, memory=RESIDENT_TILED, extra=extra or {},
    )


LTX = (
    # The repo's diffusers folders hold 0.9.0, which predates conditioning on several frames.
    _ltx("ltx-video", "Lightricks/LTX-Video", description="LTX-Video 0.9: fast DiT text/image-to-video, 24 fps."),
    # 0.9.5 was trained to condition on frames anywhere in the clip (diffusers runs it with
    # LTXConditionPipeline), so it takes a last frame; its timestep-aware VAE wants these decode settings.
    _ltx("ltx-video-0.9.5", "Lightricks/LTX-Video-0.9.5", keyframes=True,
         extra={"call_kwargs": {"decode_timestep": 0.05, "decode_noise_scale": 0.025}},
         description="LTX-Video 0.9.5: text/image-to-video and first+last frame keyframes, 24 fps."),
)
