"""HunyuanVideo (Tencent, diffusers community weights): 13B text-to-video."""

from __future__ import annotations

from ..entry import FrameRule, ModelEntry, OptionSpec
from .presets import OFFLOAD_TILED, P720, T2V


HUNYUAN = (
    ModelEntry(
        id="hunyuanvideo", family="hunyuan", source="hunyuanvideo-community/HunyuanVideo", tasks=T2V,
        description="HunyuanVideo 13B text-to-video (guidance-distilled), 720p or 540p at 24 fps.",
        sizes=("1280x720", "720x1280", "960x544", "544x960"), default_size="960x544", durations=(2, 4, 5),
        default_seconds=5, fps=24, fps_range=(8, 30), frame_rule=FrameRule(4, 1), max_frames=129, default_steps=50,
        max_steps=100, default_guidance=6.0, native_max_pixels=1280 * 720, native_multiple=16,
        resolutions={"720p": P720, "540p": {"16:9": "960x544", "9:16": "544x960"}},
        options=(OptionSpec("true_cfg_scale", float, 1.0, 20.0, 1.0, "> 1 enables the negative prompt (2x cost)"),),
        # 13B transformer (26 GB) + Llama-3-8B text encoder (16 GB): diffusers' docs offload it and tile its VAE.
        memory=OFFLOAD_TILED,
    ),
)
