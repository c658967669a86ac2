"""Wan 2.1 and 2.2 (Wan-AI): text-, image- and first+last-frame-to-video."""

from __future__ import annotations

from ...jobs import Task
from ..entry import FrameRule, ModelEntry, OptionSpec
from .presets import BOTH, I2V, OFFLOAD_TILED, P480, P720, RESIDENT_TILED, STRENGTH, T2V, T2V_EDIT, sizes_of


def _wan(id, source, tasks, resolutions, *, steps=50, guidance=5.0, shift=3.0, keyframes=False, fps=16, frames=81,
         multiple=16, extra=None, description="", last_frame_required=False, memory=OFFLOAD_TILED):
    sizes = sizes_of(*resolutions.values())
    seconds = round((frames - 1) / fps)
    return ModelEntry(
        id=id, family="wan", source=source, tasks=tasks, description=description, sizes=sizes, default_size=sizes[0],
        durations=(seconds,), default_seconds=seconds, fps=fps, fps_range=(8, 30), frame_rule=FrameRule(4, 1),
        max_frames=frames, default_steps=steps, max_steps=100, default_guidance=guidance, guidance_range=(0.0, 20.0),
        native_max_pixels=max(w * h for w, h in (map(int, s.split("x")) for s in sizes)), native_multiple=multiple,
        keyframes=keyframes, last_frame_required=last_frame_required, resolutions=resolutions,
        extra={"flow_shift": shift, **(extra or {})}, memory=memory,
        options=(OptionSpec("guidance_scale_2", float, 0.0, 20.0, guidance, "low-noise expert's guidance (Wan 2.2 A14B)"),
                 OptionSpec("flow_shift", float, 0.5, 20.0, shift, "scheduler shift"))
        + ((STRENGTH,) if Task.EDIT in tasks else ()),
    )


# Wan 14B / A14B: a 14B transformer (two for A14B) is 28 GB in bf16 and UMT5-XXL another 11 GB, so they
# offload (the _wan default), as does TI2V-5B (10 GB + 11 GB + activations at 720p exceed 24 GB).
WAN = (
    _wan("wan2.1-t2v-1.3b", "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", T2V_EDIT, {"480p": P480}, memory=RESIDENT_TILED,
         description="Wan 2.1 text-to-video, 1.3B: 480p, 5 s at 16 fps; fits consumer GPUs."),
    _wan("wan2.1-t2v-14b", "Wan-AI/Wan2.1-T2V-14B-Diffusers", T2V_EDIT, {"720p": P720, "480p": P480}, shift=5.0,
         description="Wan 2.1 text-to-video, 14B: 480p and 720p."),
    _wan("wan2.1-i2v-14b-480p", "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers", I2V, {"480p": P480},
         description="Wan 2.1 image-to-video, 14B, 480p."),
    _wan("wan2.1-i2v-14b-720p", "Wan-AI/Wan2.1-I2V-14B-720P-Diffusers", I2V, {"720p": P720}, shift=5.0,
         description="Wan 2.1 image-to-video, 14B, 720p."),
    _wan("wan2.1-flf2v-14b-720p", "Wan-AI/Wan2.1-FLF2V-14B-720P-diffusers", I2V, {"720p": P720}, guidance=5.5,
         shift=5.0, keyframes=True, last_frame_required=True,
         description="Wan 2.1 first+last frame to video, 14B, 720p."),
    _wan("wan2.2-t2v-a14b", "Wan-AI/Wan2.2-T2V-A14B-Diffusers", T2V, {"720p": P720, "480p": P480}, steps=40,
         guidance=4.0, shift=12.0, description="Wan 2.2 text-to-video, two 14B experts."),
    _wan("wan2.2-i2v-a14b", "Wan-AI/Wan2.2-I2V-A14B-Diffusers", I2V, {"720p": P720, "480p": P480}, steps=40,
         guidance=3.5, shift=5.0, keyframes=True, description="Wan 2.2 image-to-video, two 14B experts."),
    _wan("wan2.2-ti2v-5b", "Wan-AI/Wan2.2-TI2V-5B-Diffusers", BOTH, {"720p": {"16:9": "1280x704", "9:16": "704x1280"}},
         fps=24, frames=121, shift=5.0, multiple=32, description="Wan 2.2 text/image-to-video, 5B, 720p at 24 fps."),
)
