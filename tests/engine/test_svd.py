"""The SVD adapter on the tiny random-weight pipeline: shapes, seeding, options, progress, cancel."""

import numpy as np
import pytest
import torch
from PIL import Image

from reelforge.catalog import FrameRule, ModelEntry
from reelforge.engine.adapters.base import GenerateRequest
from reelforge.engine.adapters.svd import SVDAdapter, fit_image
from reelforge.engine.loader import load_adapter
from reelforge.errors import GenerationFailed, JobCancelled
from reelforge.jobs import Task

CPU = torch.device("cpu")

ENTRY = ModelEntry(
    id="svd-tiny-test", family="svd", source="builtin:svd-tiny-random", tasks=frozenset({Task.I2V}),
    description="tiny random SVD for tests", sizes=("64x64", "128x64"), default_size="64x64", durations=(1, 2),
    default_seconds=1, fps=7, fps_range=(1, 30), frame_rule=FrameRule(), max_frames=25, default_steps=3,
    max_steps=50, default_guidance=3.0, native_multiple=8, random_weights=True,
)


def gradient_image(width: int = 96, height: int = 64, flip: bool = False) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None, None]
    rgb = np.concatenate([np.broadcast_to(x, (height, width, 1)), np.broadcast_to(y, (height, width, 1)),
                          np.full((height, width, 1), 128, np.float32)], axis=2)
    return Image.fromarray((255 - rgb if flip else rgb).astype(np.uint8))


def request(**changes) -> GenerateRequest:
    values = dict(prompt="ignored by svd", seed=0, num_inference_steps=3, guidance_scale=3.0, num_frames=6,
                  width=64, height=64, fps=7, image=gradient_image())
    values.update(changes)
    return GenerateRequest(**values)


def no_progress(done: int, total: int) -> None:
    pass


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # The tiny model's convs are too small to gain from threads; on 2 shared cores, 2 OpenMP
    # threads competing with other processes made the same run 5-10x slower.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("svd-models")


@pytest.fixture(scope="module")
def svd(models_dir) -> SVDAdapter:
    adapter = load_adapter(ENTRY, models_dir, CPU, torch.float32)
    assert isinstance(adapter, SVDAdapter)
    return adapter


@pytest.fixture(scope="module")
def baseline(svd) -> np.ndarray:
    return svd.generate(request(), no_progress)


@pytest.mark.parametrize("num_frames,width,height", [(14, 64, 64), (6, 128, 64), (4, 64, 128)])
def test_returns_the_requested_shape_as_uint8(svd, num_frames, width, height):
    # The input image (96x64) matches none of these sizes: the adapter crops and resizes it.
    frames = svd.generate(request(num_frames=num_frames, width=width, height=height), no_progress)
    assert frames.shape == (num_frames, height, width, 3)
    assert frames.dtype == np.uint8
    assert frames.std() > 1  # real pixels, not a constant fill


def test_same_seed_is_bit_exact_and_seed_and_image_change_the_video(svd, baseline):
    assert np.array_equal(baseline, svd.generate(request(), no_progress))
    assert not np.array_equal(baseline, svd.generate(request(seed=1), no_progress))
    assert not np.array_equal(baseline, svd.generate(request(image=gradient_image(flip=True)), no_progress))


@pytest.mark.parametrize("changes", [
    dict(options={"motion_bucket_id": 30}),
    dict(options={"noise_aug_strength": 0.5}),
    dict(options={"min_guidance_scale": 2.0}),
    dict(guidance_scale=6.0),
    dict(fps=20),  # SVD conditions on fps - 1
], ids=["motion_bucket_id", "noise_aug_strength", "min_guidance_scale", "max_guidance_scale", "fps"])
def test_conditioning_knobs_change_the_video(svd, baseline, changes):
    assert not np.array_equal(baseline, svd.generate(request(**changes), no_progress))


def test_the_default_options_are_the_pipeline_defaults(svd, baseline):
    explicit = {"motion_bucket_id": 127, "noise_aug_strength": 0.02, "min_guidance_scale": 1.0, "decode_chunk_size": 6}
    assert np.array_equal(baseline, svd.generate(request(options=explicit), no_progress))


def test_on_step_reports_every_step_then_every_decode_chunk(svd):
    calls = []
    svd.generate(request(num_inference_steps=4), lambda done, total: calls.append((done, total)))
    assert calls == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]  # 4 steps + 1 decode (all frames at once on CPU)

    calls.clear()
    frames = svd.generate(request(options={"decode_chunk_size": 2}), lambda done, total: calls.append((done, total)))
    assert calls == [(i, 6) for i in range(1, 7)]  # 3 steps + ceil(6 / 2) decode chunks
    assert frames.shape == (6, 64, 64, 3)


@pytest.mark.parametrize("cancel_at", [2, 4], ids=["denoising", "decoding"])
def test_cancel_from_on_step_aborts_and_the_adapter_stays_usable(svd, models_dir, cancel_at):
    calls = []

    def cancel(done, total):
        calls.append(done)
        if done == cancel_at:
            raise JobCancelled("cancelled by the user")

    # 3 steps, then decode chunks of 2 frames: tick 4 is the first decode chunk.
    req = request(seed=7, options={"decode_chunk_size": 2})
    with pytest.raises(JobCancelled):
        svd.generate(req, cancel)
    assert calls == list(range(1, cancel_at + 1))  # nothing ran after the raise

    calls.clear()
    after = svd.generate(req, lambda done, total: calls.append(done))
    assert calls == list(range(1, 7))  # the decode hook was removed: no double ticks
    fresh = load_adapter(ENTRY, models_dir, CPU, torch.float32)
    assert np.array_equal(after, fresh.generate(req, no_progress))


def test_text_to_video_is_refused_with_a_pointer_to_fast_svd(svd):
    with pytest.raises(GenerationFailed, match="use fast-svd for text-to-video"):
        svd.generate(request(image=None), no_progress)


@pytest.mark.parametrize("changes,match", [
    (dict(options={"motion_bucket_id": "lots"}), "motion_bucket_id"),
    (dict(options={"decode_chunk_size": 0}), "decode_chunk_size"),
    (dict(width=60), "multiple of 8"),
    (dict(last_image=gradient_image()), "last frame"),
])
def test_bad_requests_fail_clearly(svd, changes, match):
    with pytest.raises(GenerationFailed, match=match):
        svd.generate(request(**changes), no_progress)


def test_entry_default_options_override_the_pipeline_defaults(svd, baseline):
    tuned = SVDAdapter(svd.pipe, default_options={"motion_bucket_id": 30})
    assert np.array_equal(tuned.generate(request(), no_progress),
                          svd.generate(request(options={"motion_bucket_id": 30}), no_progress))
    assert not np.array_equal(tuned.generate(request(), no_progress), baseline)


def test_fit_image_crops_to_the_aspect_instead_of_stretching():
    # Left third red, middle third green, right third blue; fitted into a square: only green survives.
    rgb = np.zeros((60, 180, 3), np.uint8)
    rgb[:, :60, 0] = rgb[:, 60:120, 1] = rgb[:, 120:, 2] = 255
    fitted = np.asarray(fit_image(Image.fromarray(rgb), 64, 64))
    assert fitted.shape == (64, 64, 3)
    assert fitted[:, 8:-8, 1].min() > 200 and fitted[:, 8:-8, [0, 2]].max() < 50

