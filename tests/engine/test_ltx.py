"""The LTX adapter on the tiny random-weight pipeline: shapes, seeding, progress, cancel, i2v, keyframes."""

import numpy as np
import pytest
import torch
from PIL import Image

from reelforge.engine.loader import load_adapter
from reelforge.errors import GenerationFailed, JobCancelled

from .conftest import BATCH_PROMPTS, CPU, assert_batched_as_alone, make_request, no_progress


def gradient_image(width: int, height: int, flip: bool = False) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None, None]
    rgb = np.concatenate([np.broadcast_to(x, (height, width, 1)), np.broadcast_to(y, (height, width, 1)),
                          np.full((height, width, 1), 128, np.float32)], axis=2)
    if flip:
        rgb = 255 - rgb
    return Image.fromarray(rgb.astype(np.uint8))


SHAPES = [(9, 64, 128), (17, 128, 64), (33, 128, 64), (9, 96, 32)]  # (num_frames, width, height)


@pytest.mark.parametrize("num_frames,width,height", SHAPES)
def test_t2v_returns_the_requested_shape_as_uint8(ltx_adapter, num_frames, width, height):
    frames = ltx_adapter.generate(make_request(num_frames=num_frames, width=width, height=height), no_progress)
    assert frames.shape == (num_frames, height, width, 3)
    assert frames.dtype == np.uint8
    assert frames.std() > 1  # real pixels, not a constant fill


@pytest.mark.parametrize("num_frames,width,height", SHAPES)
def test_i2v_returns_the_requested_shape_as_uint8(ltx_adapter, num_frames, width, height):
    # The input image's size differs from the request: the pipeline resizes it.
    req = make_request(num_frames=num_frames, width=width, height=height, image=gradient_image(80, 48))
    frames = ltx_adapter.generate(req, no_progress)
    assert frames.shape == (num_frames, height, width, 3)
    assert frames.dtype == np.uint8


@pytest.mark.parametrize("image", [None, gradient_image(128, 64)], ids=["t2v", "i2v"])
def test_same_seed_is_bit_exact_and_seed_and_prompt_change_the_video(ltx_adapter, image):
    base = ltx_adapter.generate(make_request(image=image), no_progress)
    assert np.array_equal(base, ltx_adapter.generate(make_request(image=image), no_progress))
    assert not np.array_equal(base, ltx_adapter.generate(make_request(image=image, seed=1), no_progress))
    other_prompt = make_request(image=image, prompt="a dog running in the park")
    assert not np.array_equal(base, ltx_adapter.generate(other_prompt, no_progress))


def test_on_step_reports_every_step_in_order(ltx_adapter):
    calls = []
    ltx_adapter.generate(make_request(num_inference_steps=5), lambda done, total: calls.append((done, total)))
    assert calls == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]


@pytest.mark.parametrize("image", [None, gradient_image(128, 64)], ids=["t2v", "i2v"])
def test_cancel_from_on_step_aborts_and_the_adapter_stays_usable(ltx_adapter, tiny_entry, tiny_models_dir, image):
    calls = []

    def cancel_at_two(done, total):
        calls.append(done)
        if done == 2:
            raise JobCancelled("cancelled by the user")

    with pytest.raises(JobCancelled):
        ltx_adapter.generate(make_request(image=image, seed=7), cancel_at_two)
    assert calls == [1, 2]  # no step ran after the raise

    after = ltx_adapter.generate(make_request(image=image, seed=7), no_progress)
    fresh = load_adapter(tiny_entry, tiny_models_dir, CPU, torch.float32)
    assert np.array_equal(after, fresh.generate(make_request(image=image, seed=7), no_progress))


def test_i2v_output_depends_on_the_image(ltx_adapter):
    a = ltx_adapter.generate(make_request(image=gradient_image(128, 64)), no_progress)
    b = ltx_adapter.generate(make_request(image=gradient_image(128, 64, flip=True)), no_progress)
    t2v = ltx_adapter.generate(make_request(), no_progress)
    # The image is the first latent frame, so the opening frame must change with it.
    assert not np.array_equal(a[0], b[0])
    assert not np.array_equal(a, t2v)


def test_i2v_shares_components_with_t2v(ltx_adapter):
    # One set of weights in memory for both tasks.
    assert ltx_adapter.i2v.transformer is ltx_adapter.t2v.transformer
    assert ltx_adapter.i2v.vae is ltx_adapter.t2v.vae
    assert ltx_adapter.i2v.text_encoder is ltx_adapter.t2v.text_encoder


@pytest.mark.parametrize("changes", [dict(width=100), dict(height=48), dict(num_frames=20)])
def test_off_grid_request_fails_clearly_instead_of_cropping(ltx_adapter, changes):
    with pytest.raises(GenerationFailed, match="8k\\+1|multiple of 32"):
        ltx_adapter.generate(make_request(**changes), no_progress)


def solid(color, size=(128, 64)) -> Image.Image:
    return Image.new("RGB", size, color)


RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 255, 0)


@pytest.mark.parametrize("num_frames,width,height", SHAPES)
def test_keyframes_return_the_requested_shape_as_uint8(ltx_adapter, num_frames, width, height):
    # Keyframe images of another size than the request: the pipeline resizes them.
    req = make_request(num_frames=num_frames, width=width, height=height, image=solid(RED, (80, 48)),
                       last_image=solid(BLUE, (80, 48)))
    frames = ltx_adapter.generate(req, no_progress)
    assert frames.shape == (num_frames, height, width, 3)
    assert frames.dtype == np.uint8


def test_keyframes_condition_the_video_and_are_deterministic(ltx_adapter):
    """What random weights let us observe. The tiny VAE and transformer are random, so the decoded frames
    do not look like the keyframe images (a red first keyframe gives a grey opening frame, no redder than a
    blue one gives): closeness of the first/last frame to its image is not observable here. What is: each
    keyframe changes the video, the first one mostly at the start (it is the first latent frame), and the
    same seed gives the same video."""
    def run(first, last, **changes):
        req = make_request(image=solid(first) if first else None, last_image=solid(last), **changes)
        return ltx_adapter.generate(req, no_progress).astype(int)

    base = run(RED, BLUE)
    assert np.array_equal(base, run(RED, BLUE))
    assert not np.array_equal(base, run(RED, BLUE, seed=1))

    other_first = np.abs(base - run(GREEN, BLUE)).mean(axis=(1, 2, 3))
    assert other_first[0] > 2 * other_first[-1] > 0
    assert not np.array_equal(base, run(RED, GREEN))  # the last keyframe is used too

    # Not the same video as without keyframes, or with the first frame alone.
    assert not np.array_equal(base, ltx_adapter.generate(make_request(), no_progress))
    assert not np.array_equal(base, ltx_adapter.generate(make_request(image=solid(RED)), no_progress))


def test_a_last_frame_alone_is_a_keyframe_too(ltx_adapter):
    frames = ltx_adapter.generate(make_request(num_frames=17, last_image=solid(BLUE)), no_progress)
    assert frames.shape == (17, 64, 128, 3)


def test_cancel_stops_a_keyframe_video_and_the_adapter_stays_usable(ltx_adapter):
    calls = []

    def cancel_at_two(done, total):
        calls.append((done, total))
        if done == 2:
            raise JobCancelled("cancelled by the user")

    req = make_request(image=solid(RED), last_image=solid(BLUE))
    with pytest.raises(JobCancelled):
        ltx_adapter.generate(req, cancel_at_two)
    assert calls == [(1, 8), (2, 8)]
    assert ltx_adapter.generate(req, no_progress).shape == (33, 64, 128, 3)


def test_the_keyframe_pipeline_shares_components_with_t2v(ltx_adapter):
    for name in ("transformer", "vae", "text_encoder", "tokenizer", "scheduler"):
        assert getattr(ltx_adapter.keyframes, name) is getattr(ltx_adapter.t2v, name), name


def test_a_batched_call_gives_each_seed_its_clip_alone(ltx_adapter):
    assert_batched_as_alone(ltx_adapter, [
        make_request(prompt=p, seed=20 + i, negative_prompt="dark" if i else None, num_frames=9, num_inference_steps=2)
        for i, p in enumerate(BATCH_PROMPTS)])
