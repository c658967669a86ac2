"""Built-in catalog entries for the published checkpoints of each family.

The numbers are the checkpoints' published facts (diffusers pipeline defaults and
docstrings, model cards); where a model card and diffusers disagree, diffusers wins,
because diffusers is what runs them. Weights are fetched lazily from the hub by repo
id, or ahead of time with `reelforge pull`.
"""

from __future__ import annotations

from .catalog import FrameRule, MemoryPolicy, ModelEntry, OptionSpec
from .jobs import Task

T2V = frozenset({Task.T2V})
I2V = frozenset({Task.I2V})
BOTH = frozenset({Task.T2V, Task.I2V})

P480 = {"16:9": "832x480", "9:16": "480x832"}
P720 = {"16:9": "1280x720", "9:16": "720x1280"}


# Memory policies (weights in bf16 on an accelerator; see catalog.MEMORY_POLICIES). Models whose weights,
# text encoder included, fit a 24 GB card with room for activations stay resident; bigger ones offload whole
# components, which diffusers' docs recommend for them on 24-80 GB cards. Every video VAE that can tile
# does: decoding 720p or long clips in one piece takes more memory than the denoiser.
RESIDENT = MemoryPolicy()
RESIDENT_TILED = MemoryPolicy("resident", vae_tiling=True)
OFFLOAD_TILED = MemoryPolicy("model_offload", vae_tiling=True)


def _sizes(*menus: dict[str, str]) -> tuple[str, ...]:
    return tuple(size for menu in menus for size in menu.values())


def _wan(id, source, tasks, resolutions, *, steps=50, guidance=5.0, shift=3.0, keyframes=False, fps=16, frames=81,
         multiple=16, extra=None, description="", last_frame_required=False, memory=OFFLOAD_TILED):
    sizes = _sizes(*resolutions.values())
    seconds = round((frames - 1) / fps)
    return ModelEntry(
        id=id, family="wan", source=source, tasks=tasks, description=description, sizes=sizes, default_size=sizes[0],
        durations=(seconds,), default_seconds=seconds, fps=fps, fps_range=(8, 30), frame_rule=FrameRule(4, 1),
        max_frames=frames, default_steps=steps, max_steps=100, default_guidance=guidance, guidance_range=(0.0, 20.0),
        native_max_pixels=max(w * h for w, h in (map(int, s.split("x")) for s in sizes)), native_multiple=multiple,
        keyframes=keyframes, last_frame_required=last_frame_required, resolutions=resolutions,
        extra={"flow_shift": shift, **(extra or {})}, memory=memory,
        options=(OptionSpec("guidance_scale_2", float, 0.0, 20.0, guidance, "low-noise expert's guidance (Wan 2.2 A14B)"),
                 OptionSpec("flow_shift", float, 0.5, 20.0, shift, "scheduler shift")),
    )


# Wan 14B / A14B: a 14B transformer (two for A14B) is 28 GB in bf16 and UMT5-XXL another 11 GB, so they
# offload (the _wan default), as does TI2V-5B (10 GB + 11 GB + activations at 720p exceed 24 GB).
WAN = (
    _wan("wan2.1-t2v-1.3b", "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", T2V, {"480p": P480}, memory=RESIDENT_TILED,
         description="Wan 2.1 text-to-video, 1.3B: 480p, 5 s at 16 fps; fits consumer GPUs."),
    _wan("wan2.1-t2v-14b", "Wan-AI/Wan2.1-T2V-14B-Diffusers", T2V, {"720p": P720, "480p": P480}, shift=5.0,
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

COGVIDEOX = (
    ModelEntry(
        id="cogvideox-2b", family="cogvideox", source="THUDM/CogVideoX-2b", tasks=T2V,
        description="CogVideoX 2B text-to-video, 720x480, 6 s at 8 fps.",
        sizes=("720x480",), default_size="720x480", durations=(6,), default_seconds=6, fps=8, fps_range=(8, 16),
        frame_rule=FrameRule(8, 1), max_frames=49, default_steps=50, max_steps=100, default_guidance=6.0,
        native_max_pixels=720 * 480, native_multiple=16, resolutions={"480p": {"3:2": "720x480"}},
        options=(OptionSpec("use_dynamic_cfg", int, 0, 1, 0, "1: cosine guidance schedule"),),
        # 2B (fp16/bf16: 4 GB) + T5-XXL (9.5 GB) fits a 24 GB card; decoding 49 frames untiled does not.
        memory=RESIDENT_TILED,
    ),
    ModelEntry(
        id="cogvideox-5b", family="cogvideox", source="THUDM/CogVideoX-5b", tasks=T2V,
        description="CogVideoX 5B text-to-video, 720x480, 6 s at 8 fps.",
        sizes=("720x480",), default_size="720x480", durations=(6,), default_seconds=6, fps=8, fps_range=(8, 16),
        frame_rule=FrameRule(8, 1), max_frames=49, default_steps=50, max_steps=100, default_guidance=6.0,
        native_max_pixels=720 * 480, native_multiple=16, resolutions={"480p": {"3:2": "720x480"}},
        options=(OptionSpec("use_dynamic_cfg", int, 0, 1, 0, "1: cosine guidance schedule"),),
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

ANIMATEDIFF = (
    ModelEntry(
        id="animatediff-v1-5-2", family="animatediff", source="emilianJR/epiCRealism", tasks=T2V,
        description="AnimateDiff motion adapter v1-5-2 on an SD1.5 base (epiCRealism): 512x512 at 8 fps; any SD1.5 "
                    "checkpoint (folder or single .safetensors) can be the base; LoRAs; multi-prompt travel.",
        sizes=("512x512", "512x768", "768x512"), default_size="512x512", durations=(2, 4, 8, 16), default_seconds=2,
        fps=8, fps_range=(4, 24), frame_rule=FrameRule(1, 0), max_frames=128, default_steps=25, max_steps=100,
        default_guidance=7.5, native_max_pixels=768 * 512, native_multiple=8, loras=True, prompt_travel=True,
        resolutions={"512p": {"1:1": "512x512", "2:3": "512x768", "3:2": "768x512"}},
        options=(OptionSpec("clip_skip", int, 1, 4, 1, "1 = last CLIP layer (A1111 convention)"),),
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
        sizes=_sizes(*_SVD_MENU.values()), default_size="1024x576", durations=(2,) if frames < 21 else (2, 3),
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

PUBLISHED: tuple[ModelEntry, ...] = LTX + WAN + COGVIDEOX + HUNYUAN + ANIMATEDIFF + SVD
