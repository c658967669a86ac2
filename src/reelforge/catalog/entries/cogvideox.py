"""CogVideoX (THUDM): 2B and 5B text-to-video, 5B image-to-video."""

from __future__ import annotations

from ..entry import FrameRule, ModelEntry, OptionSpec
from .presets import I2V, OFFLOAD_TILED, RESIDENT_TILED, STRENGTH, T2V_EDIT


COGVIDEOX = (
    ModelEntry(
        id="cogvideox-2b", family="cogvideox", source="THUDM/CogVideoX-2b", tasks=T2V_EDIT,
        description="CogVideoX 2B text-to-video, 720x480, 6 s at 8 fps.",
        sizes=("720x480",), default_size="720x480", durations=(6,), default_seconds=6, fps=8, fps_range=(8, 16),
        frame_rule=FrameRule(8, 1), max_frames=49, default_steps=50, max_steps=100, default_guidance=6.0,
        native_max_pixels=720 * 480, native_multiple=16, resolutions={"480p": {"3:2": "720x480"}},
        options=(OptionSpec("use_dynamic_cfg", int, 0, 1, 0, "1: cosine guidance schedule"), STRENGTH),
        # 2B (fp16/bf16: 4 GB) + T5-XXL (9.5 GB) fits a 24 GB card; decoding 49 frames untiled does not.
        memory=RESIDENT_TILED,
    ),
    ModelEntry(
        id="cogvideox-5b", family="cogvideox", source="THUDM/CogVideoX-5b", tasks=T2V_EDIT,
        description="CogVideoX 5B text-to-video, 720x480, 6 s at 8 fps.",
        sizes=("720x480",), default_size="720x480", durations=(6,), default_seconds=6, fps=8, fps_range=(8, 16),
        frame_rule=FrameRule(8, 1), max_frames=49, default_steps=50, max_steps=100, default_guidance=6.0,
        native_max_pixels=720 * 480, native_multiple=16, resolutions={"480p": {"3:2": "720x480"}},
        options=(OptionSpec("use_dynamic_cfg", int, 0, 1, 0, "1: cosine guidance schedule"), STRENGTH),
        # 5B (10 GB) + T5-XXL (9.5 GB) + full 3D attention over 49 frames: CogVideoX's card runs it offloaded.
        memory=OFFLOAD_TILED,
    ),
    ModelEntry(
        id="cogvideox-5b-i2v", family="cogvideox", source="THUDM/CogVideoX-5b-I2V", tasks=I2V,
        description="CogVideoX 5B image-to-video, 720x480, 49 frames.",
        sizes=("720x480",), default_size="720x480", durations=(6,), default_seconds=6, fps=8, fps_range=(8, 16),
        frame_rule=FrameRule(48, 1), max_frames=49, default_steps=50, max_steps=100, default_guidance=6.0,
        native_max_pixels=720 * 480, native_multiple=16, resolutions={"480p": {"3:2": "720x480"}},
        options=(OptionSpec("use_dynamic_cfg", int, 0, 1, 1, "1: cosine guidance schedule"),),
        memory=OFFLOAD_TILED,
    ),
)
