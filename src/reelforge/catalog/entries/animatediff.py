"""AnimateDiff: a motion adapter on an SD1.5 base; LoRAs and multi-prompt travel."""

from __future__ import annotations

from ..entry import FrameRule, ModelEntry, OptionSpec
from .presets import RESIDENT, STRENGTH, T2V_EDIT


ANIMATEDIFF = (
    ModelEntry(
        id="animatediff-v1-5-2", family="animatediff", source="emilianJR/epiCRealism", tasks=T2V_EDIT,
        description="AnimateDiff motion adapter v1-5-2 on an SD1.5 base (epiCRealism): 512x512 at 8 fps; any SD1.5 "
                    "checkpoint (folder or single .safetensors) can be the base; LoRAs; multi-prompt travel.",
        sizes=("512x512", "512x768", "768x512"), default_size="512x512", durations=(2, 4, 8, 16), default_seconds=2,
        fps=8, fps_range=(4, 24), frame_rule=FrameRule(1, 0), max_frames=128, default_steps=25, max_steps=100,
        default_guidance=7.5, native_max_pixels=768 * 512, native_multiple=8, loras=True, prompt_travel=True,
        resolutions={"512p": {"1:1": "512x512", "2:3": "512x768", "3:2": "768x512"}},
        options=(OptionSpec("clip_skip", int, 1, 4, 1, "1 = last CLIP layer (A1111 convention)"), STRENGTH),
        # SD1.5 + motion modules are about 2 GB. No tiling: SD's VAE tiles are 512 px, the size of the frames,
        # and the pipeline already decodes frames in chunks.
        memory=RESIDENT,
        extra={
            "motion_adapter": "guoyww/animatediff-motion-adapter-v1-5-2",
            "scheduler": {"class": "DDIMScheduler", "clip_sample": False, "timestep_spacing": "linspace",
                          "beta_schedule": "linear", "steps_offset": 1},
        },
    ),
)
