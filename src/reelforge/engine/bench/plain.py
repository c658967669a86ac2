"""The baseline: the same diffusers pipeline objects the adapter holds, called directly.

Same prompt, size, frames, steps, guidance and seed as our path, plus the per-model inputs a
user of the pipeline would pass too (LTX's frame rate, the catalog's ``call_kwargs``, SVD's
conditioning settings, HunyuanVideo's prompt template), so the only difference left is our
code around the call. The one addition is ``callback_on_step_end=stamp``, a bare callback that
records the time of each step (see ``measure.StepClock``): without it a plain call has no
per-step times at all.

The pipelines are the adapter's own objects (same weights, same memory policy and offload hooks,
as a user would set them up); reaching into them is the point of a side-by-side baseline.
"""

from __future__ import annotations

from typing import Any, Callable

from ...errors import ModelUnavailable
from ..adapters.base import Adapter, GenerateRequest, seeded_generator

StepCallback = Callable[..., dict]
PlainCall = Callable[[StepCallback], Any]


def _common(req: GenerateRequest, stamp: StepCallback) -> dict[str, Any]:
    return dict(
        prompt=req.prompt, negative_prompt=req.negative_prompt, height=req.height, width=req.width,
        num_frames=req.num_frames, num_inference_steps=req.num_inference_steps, guidance_scale=req.guidance_scale,
        generator=seeded_generator(req.seed), output_type="np", callback_on_step_end=stamp,
    )


def _images(req: GenerateRequest) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if req.image is not None:
        extra["image"] = req.image
    if req.last_image is not None:
        extra["last_image"] = req.last_image
    return extra


def _ltx(a, req, stamp):
    pipe = a.i2v if req.image is not None else a.t2v
    return pipe(**_common(req, stamp), frame_rate=req.fps, **_images(req), **a.call_kwargs)


def _wan(a, req, stamp):
    # The scheduler on the pipeline is the one our path last installed (the catalog's flow_shift);
    # the warm-up runs our path first, so both paths always step the same schedule.
    pipe = a.i2v if req.image is not None else a.t2v
    return pipe(**_common(req, stamp), **_images(req), **a.call_kwargs)


def _cogvideox(a, req, stamp):
    return a.pipe(**_common(req, stamp), max_sequence_length=a.pipe.transformer.config.max_text_seq_length,
                  **_images(req), **a.call_kwargs)


def _hunyuan(a, req, stamp):
    # Guidance-distilled: no negative prompt without true CFG, as in our path.
    kwargs = {k: v for k, v in _common(req, stamp).items() if k != "negative_prompt"}
    return a.pipe(**kwargs, prompt_template=a.prompt_template, **a.call_kwargs)


def _svd_call(svd, image, req, stamp):
    s = svd.settings(req)  # the same resolved conditioning values, not a second copy of the defaults
    return svd.pipe(
        image=image, height=req.height, width=req.width, num_frames=req.num_frames,
        num_inference_steps=req.num_inference_steps, min_guidance_scale=s.min_guidance_scale,
        max_guidance_scale=s.max_guidance_scale, fps=req.fps, motion_bucket_id=s.motion_bucket_id,
        noise_aug_strength=s.noise_aug_strength, decode_chunk_size=s.decode_chunk_size,
        generator=seeded_generator(req.seed), output_type="np", callback_on_step_end=stamp,
    )


def _svd(a, req, stamp):
    return _svd_call(a, req.image, req, stamp)


def _fast_svd(a, req, stamp):
    if req.image is not None:
        return _svd_call(a.svd, req.image, req, stamp)
    image = a.t2i(
        prompt=req.prompt, height=req.height, width=req.width, num_inference_steps=a.t2i_steps,
        guidance_scale=a.t2i_guidance_scale, generator=seeded_generator(req.seed), output_type="pil",
        callback_on_step_end=stamp,
    ).images[0]
    return _svd_call(a.svd, image, req, stamp)


def _animatediff(a, req, stamp):
    return a.pipe(**_common(req, stamp), **a.call_kwargs)


_CALLS: dict[str, Callable[[Adapter, GenerateRequest, StepCallback], Any]] = {
    "ltx": _ltx, "wan": _wan, "cogvideox": _cogvideox, "hunyuan": _hunyuan,
    "svd": _svd, "fast-svd": _fast_svd, "animatediff": _animatediff,
}


def plain_call(adapter: Adapter, req: GenerateRequest) -> PlainCall:
    """``run(stamp)``: one plain diffusers generation of ``req`` on ``adapter``'s pipelines."""
    call = _CALLS.get(adapter.family)
    if call is None:
        raise ModelUnavailable(f"bench has no plain diffusers baseline for model family '{adapter.family}'; "
                               f"it has one for: {', '.join(sorted(_CALLS))}")
    return lambda stamp: call(adapter, req, stamp)


def steps_before_denoising(adapter: Adapter, req: GenerateRequest) -> int:
    """Step callbacks that come before the video denoising loop (fast-svd's text-to-image steps).

    Both paths see them: our ``on_step`` ticks once per text-to-image step, and so does the stamp.
    """
    if adapter.family == "fast-svd" and req.image is None:
        return adapter.t2i_steps
    return 0
