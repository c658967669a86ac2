"""The Wan adapter on tiny random-weight Wan 2.1 / 2.2 pipelines, loaded through the production loader.

``wan-tiny-random`` (Wan 2.1 T2V) is a ``builtin:`` source, built by the loader on first use. The
other layouts (2.1 I2V, 2.1 FLF2V, 2.2 I2V-A14B, 2.2 TI2V-5B) are built into the same models folder
once per module and loaded as local-folder sources, exactly as an operator's downloaded folder would be.
"""

import numpy as np
import pytest
import torch
from PIL import Image

from reelforge.catalog import FrameRule, ModelEntry
from reelforge.engine.adapters.base import GenerateRequest
from reelforge.engine.loader import load_adapter
from reelforge.engine.tiny import wan as tiny_wan
from reelforge.errors import GenerationFailed, JobCancelled
from reelforge.jobs import Task
from tests.engine.progress import assert_steps_then_decode

from .conftest import BATCH_PROMPTS, CPU, assert_batched_as_alone, no_progress

LOCAL_BUILDERS = {
    "wan-i2v-tiny-random": tiny_wan.build_tiny_wan_i2v,
    "wan-flf2v-tiny-random": tiny_wan.build_tiny_wan_flf2v,
    "wan22-i2v-tiny-random": tiny_wan.build_tiny_wan22_i2v,
    "wan22-ti2v-tiny-random": tiny_wan.build_tiny_wan22_ti2v,
}


def make_entry(source: str, **changes) -> ModelEntry:
    values = dict(
        id=source.removeprefix("builtin:"), family="wan", source=source, tasks=frozenset({Task.T2V, Task.I2V}),
        description="tiny random Wan", sizes=("256x256",), default_size="256x256", durations=(1,),
        default_seconds=1, fps=16, fps_range=(1, 30), frame_rule=FrameRule(4, 1), max_frames=81,
        default_steps=2, max_steps=50, default_guidance=5.0, native_multiple=16, random_weights=True,
    )
    values.update(changes)
    return ModelEntry(**values)


def req(**changes) -> GenerateRequest:
    values = dict(
        prompt="a cat walking on the street at night", negative_prompt="blurry", seed=0,
        num_inference_steps=2, guidance_scale=5.0, num_frames=9, width=16, height=16, fps=16,
    )
    values.update(changes)
    return GenerateRequest(**values)


def gradient_image(width: int, height: int, flip: bool = False) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None, None]
    rgb = np.concatenate([np.broadcast_to(x, (height, width, 1)), np.broadcast_to(y, (height, width, 1)),
                          np.full((height, width, 1), 128, np.float32)], axis=2)
    if flip:
        rgb = 255 - rgb
    return Image.fromarray(rgb.astype(np.uint8))


IMG, IMG2 = gradient_image(40, 24), gradient_image(40, 24, flip=True)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    models = tmp_path_factory.mktemp("wan-models")
    for name, build in LOCAL_BUILDERS.items():
        build(models / name)
    return models


def _load(models_dir, source):
    return load_adapter(make_entry(source), models_dir, CPU, torch.float32)


@pytest.fixture(scope="module")
def t2v(models_dir):
    return _load(models_dir, "builtin:wan-tiny-random")


@pytest.fixture(scope="module")
def i2v(models_dir):
    return _load(models_dir, "wan-i2v-tiny-random")


@pytest.fixture(scope="module")
def flf2v(models_dir):
    return _load(models_dir, "wan-flf2v-tiny-random")


@pytest.fixture(scope="module")
def wan22_i2v(models_dir):
    return _load(models_dir, "wan22-i2v-tiny-random")


@pytest.fixture(scope="module")
def ti2v(models_dir):
    return _load(models_dir, "wan22-ti2v-tiny-random")


SHAPES = [(9, 16, 16), (5, 48, 32), (13, 32, 64)]  # (num_frames, width, height)
TI2V_SHAPES = [(9, 32, 32), (5, 64, 32)]  # the Wan 2.2 VAE compresses 16x: a 32-pixel grid


def _assert_video(frames, num_frames, width, height):
    assert frames.shape == (num_frames, height, width, 3)
    assert frames.dtype == np.uint8
    assert frames.std() > 0  # real pixels, not a constant fill


@pytest.mark.parametrize("num_frames,width,height", SHAPES)
def test_t2v_returns_the_requested_shape(t2v, num_frames, width, height):
    frames = t2v.generate(req(num_frames=num_frames, width=width, height=height), no_progress)
    _assert_video(frames, num_frames, width, height)


@pytest.mark.parametrize("num_frames,width,height", SHAPES)
def test_i2v_returns_the_requested_shape(i2v, num_frames, width, height):
    # The image's size differs from the request: the pipeline resizes it.
    frames = i2v.generate(req(num_frames=num_frames, width=width, height=height, image=IMG), no_progress)
    _assert_video(frames, num_frames, width, height)


@pytest.mark.parametrize("num_frames,width,height", SHAPES[:2])
def test_first_and_last_frame_return_the_requested_shape(flf2v, wan22_i2v, num_frames, width, height):
    for adapter in (flf2v, wan22_i2v):
        r = req(num_frames=num_frames, width=width, height=height, image=IMG, last_image=IMG2)
        _assert_video(adapter.generate(r, no_progress), num_frames, width, height)


@pytest.mark.parametrize("num_frames,width,height", TI2V_SHAPES)
def test_wan22_ti2v_does_t2v_and_i2v_from_one_folder(ti2v, num_frames, width, height):
    for image in (None, IMG):
        frames = ti2v.generate(req(num_frames=num_frames, width=width, height=height, image=image), no_progress)
        _assert_video(frames, num_frames, width, height)


def test_pipelines_share_modules(ti2v, i2v, t2v):
    # One set of weights in memory for both tasks.
    assert ti2v.i2v.transformer is ti2v.t2v.transformer
    assert ti2v.i2v.vae is ti2v.t2v.vae
    assert ti2v.i2v.text_encoder is ti2v.t2v.text_encoder
    # Wan 2.1 folders serve one task each: their transformers differ in input channels.
    assert t2v.i2v is None and i2v.t2v is None


@pytest.mark.parametrize("which,image", [("t2v", None), ("i2v", IMG), ("ti2v", IMG)])
def test_same_seed_is_bit_exact_and_seed_and_prompt_change_the_video(request, which, image):
    adapter = request.getfixturevalue(which)
    size = dict(width=32, height=32)
    base = adapter.generate(req(image=image, **size), no_progress)
    assert np.array_equal(base, adapter.generate(req(image=image, **size), no_progress))
    assert not np.array_equal(base, adapter.generate(req(image=image, seed=1, **size), no_progress))
    assert not np.array_equal(base, adapter.generate(req(image=image, prompt="a dog in the park", **size), no_progress))


@pytest.mark.parametrize("which,image", [("t2v", None), ("wan22_i2v", IMG)])
def test_on_step_reports_every_step_then_every_decode_call(request, which, image):
    # wan22_i2v switches experts mid-run; the count must not care.
    adapter = request.getfixturevalue(which)
    calls = []
    adapter.generate(req(image=image, num_inference_steps=4), lambda done, total: calls.append((done, total)))
    assert_steps_then_decode(calls, steps=4)


@pytest.mark.parametrize("which,source,image", [
    ("t2v", "builtin:wan-tiny-random", None),
    ("i2v", "wan-i2v-tiny-random", IMG),
])
def test_cancel_from_on_step_aborts_and_the_adapter_stays_usable(request, models_dir, which, source, image):
    adapter = request.getfixturevalue(which)
    calls = []

    def cancel_at_two(done, total):
        calls.append(done)
        if done == 2:
            raise JobCancelled("cancelled by the user")

    r = req(image=image, seed=7, num_inference_steps=4)
    with pytest.raises(JobCancelled):
        adapter.generate(r, cancel_at_two)
    assert calls == [1, 2]  # no step ran after the raise

    after = adapter.generate(r, no_progress)
    fresh = _load(models_dir, source)
    assert np.array_equal(after, fresh.generate(r, no_progress))


@pytest.mark.parametrize("which", ["i2v", "wan22_i2v", "ti2v"])
def test_i2v_output_depends_on_the_image(request, which):
    adapter = request.getfixturevalue(which)
    a = adapter.generate(req(image=IMG, width=32, height=32), no_progress)
    b = adapter.generate(req(image=IMG2, width=32, height=32), no_progress)
    # The image is the first latent frame's condition, so the opening frame must change with it.
    assert not np.array_equal(a[0], b[0])


def test_ti2v_i2v_differs_from_t2v(ti2v):
    assert not np.array_equal(
        ti2v.generate(req(image=IMG, width=32, height=32), no_progress),
        ti2v.generate(req(width=32, height=32), no_progress),
    )


def test_last_image_changes_the_output(flf2v, wan22_i2v):
    a = flf2v.generate(req(image=IMG, last_image=IMG2), no_progress)
    b = flf2v.generate(req(image=IMG, last_image=IMG), no_progress)
    assert not np.array_equal(a[-1], b[-1])
    # Wan 2.2 I2V: first frame only vs. first + last frame.
    first_only = wan22_i2v.generate(req(image=IMG), no_progress)
    both = wan22_i2v.generate(req(image=IMG, last_image=IMG2), no_progress)
    assert not np.array_equal(first_only[-1], both[-1])


def test_guidance_scale_2_drives_the_second_expert(wan22_i2v, i2v):
    r = req(image=IMG, num_inference_steps=4)
    base = wan22_i2v.generate(r, no_progress)
    # Unset means "same as guidance_scale", exactly as the pipeline documents.
    assert np.array_equal(base, wan22_i2v.generate(req(image=IMG, num_inference_steps=4,
                                                       options={"guidance_scale_2": 5.0}), no_progress))
    other = wan22_i2v.generate(req(image=IMG, num_inference_steps=4, options={"guidance_scale_2": 1.5}), no_progress)
    assert not np.array_equal(base, other)
    # A single-transformer model has no second stage: the option is ignored, not an error.
    one = i2v.generate(r, no_progress)
    assert np.array_equal(one, i2v.generate(req(image=IMG, num_inference_steps=4,
                                                options={"guidance_scale_2": 1.5}), no_progress))


def test_flow_shift_option_changes_the_schedule(t2v):
    base = t2v.generate(req(num_inference_steps=3), no_progress)
    assert not np.array_equal(base, t2v.generate(req(num_inference_steps=3, options={"flow_shift": 8.0}), no_progress))
    # Per call: the next plain request is back to the folder's schedule.
    assert np.array_equal(base, t2v.generate(req(num_inference_steps=3), no_progress))


@pytest.mark.parametrize("changes,match", [
    (dict(width=24), "multiple of 16x16"),
    (dict(height=8), "multiple of 16x16"),
    (dict(num_frames=10), "4k\\+1"),
    (dict(num_frames=0), "4k\\+1"),
])
def test_off_grid_request_fails_clearly_instead_of_rounding(t2v, changes, match):
    with pytest.raises(GenerationFailed, match=match):
        t2v.generate(req(**changes), no_progress)


def test_ti2v_needs_a_32_pixel_grid(ti2v):
    with pytest.raises(GenerationFailed, match="multiple of 32x32"):
        ti2v.generate(req(width=48, height=32), no_progress)


@pytest.mark.parametrize("which,changes,match", [
    ("t2v", dict(image=IMG), "text-to-video only"),
    ("i2v", dict(), "image-to-video only"),
    ("i2v", dict(image=IMG, last_image=IMG2), "first frame only"),
    ("flf2v", dict(image=IMG), "both a first frame and a last frame"),
    ("ti2v", dict(image=IMG, last_image=IMG2, width=32, height=32), "no last-frame input"),
    ("wan22_i2v", dict(last_image=IMG2), "needs a first frame"),
])
def test_unsupported_task_fails_clearly(request, which, changes, match):
    with pytest.raises(GenerationFailed, match=match):
        request.getfixturevalue(which).generate(req(**changes), no_progress)


def test_builder_is_deterministic_for_a_seed(tmp_path):
    def weights(path):
        return (path / "transformer" / "diffusion_pytorch_model.safetensors").read_bytes()

    a = tiny_wan.build_tiny_wan(tmp_path / "a", seed=0)
    b = tiny_wan.build_tiny_wan(tmp_path / "b", seed=0)
    c = tiny_wan.build_tiny_wan(tmp_path / "c", seed=1)
    assert weights(a) == weights(b)
    assert weights(a) != weights(c)


def test_a_batched_text_to_video_call_gives_each_seed_its_clip_alone(t2v, i2v):
    # Random weights at 2 steps draw alike (two seeds 30.4 dB apart here), hence the looser bound.
    assert_batched_as_alone(t2v, [req(prompt=p, seed=30 + i, negative_prompt="dark" if i else None)
                                  for i, p in enumerate(BATCH_PROMPTS)], apart_below=35)
    # Image-to-video runs one request at a time: the very same call as alone.
    images = [req(image=IMG, seed=s) for s in (1, 2)]
    for r, frames in zip(images, i2v.generate_batch(images, no_progress)):
        assert np.array_equal(frames, i2v.generate(r, no_progress))
