"""The fast-svd adapter (text-to-image first frame, then SVD) on two tiny random-weight pipelines."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from reelforge.catalog import FrameRule, ModelEntry
from reelforge.engine.adapters.base import GenerateRequest
from reelforge.engine.adapters.fast_svd import FastSVDAdapter, _models_dir_of
from reelforge.engine.adapters.svd import Progress
from reelforge.engine.loader import load_adapter
from reelforge.errors import JobCancelled, ModelUnavailable
from reelforge.jobs import Task

CPU = torch.device("cpu")

ENTRY = ModelEntry(
    id="fast-svd-tiny-test", family="fast-svd", source="builtin:svd-tiny-random",
    tasks=frozenset({Task.T2V, Task.I2V}), description="tiny random SD -> SVD for tests",
    sizes=("64x64", "128x64"), default_size="64x64", durations=(1, 2), default_seconds=1, fps=7,
    fps_range=(1, 30), frame_rule=FrameRule(), max_frames=25, default_steps=3, max_steps=50,
    default_guidance=3.0, native_multiple=8, random_weights=True,
    extra={"t2i_source": "builtin:sd-tiny-random", "t2i_steps": 1, "t2i_guidance_scale": 0.0},
)
SVD_ENTRY = dataclasses.replace(ENTRY, id="svd-tiny-test", family="svd", tasks=frozenset({Task.I2V}), extra={})


def request(**changes) -> GenerateRequest:
    values = dict(prompt="a cat walking on the street at night", negative_prompt="blurry", seed=0,
                  num_inference_steps=3, guidance_scale=3.0, num_frames=6, width=64, height=64, fps=7)
    values.update(changes)
    return GenerateRequest(**values)


def no_progress(done: int, total: int) -> None:
    pass


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # See test_svd.py: 2 OpenMP threads on 2 shared cores made the tiny model 5-10x slower.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fast-svd-models")


@pytest.fixture(scope="module")
def fast(models_dir) -> FastSVDAdapter:
    adapter = load_adapter(ENTRY, models_dir, CPU, torch.float32)
    assert isinstance(adapter, FastSVDAdapter)
    return adapter


@pytest.fixture(scope="module")
def baseline(fast) -> np.ndarray:
    return fast.generate(request(), no_progress)


def test_both_weight_folders_are_built_under_the_models_dir(fast, models_dir):
    assert (models_dir / "svd-tiny-random" / "model_index.json").is_file()
    assert (models_dir / "sd-tiny-random" / "model_index.json").is_file()
    assert type(fast.t2i).__name__ == "StableDiffusionPipeline"


@pytest.mark.parametrize("num_frames,width,height", [(14, 64, 64), (6, 128, 64)])
def test_t2v_returns_the_requested_shape_as_uint8(fast, num_frames, width, height):
    frames = fast.generate(request(num_frames=num_frames, width=width, height=height), no_progress)
    assert frames.shape == (num_frames, height, width, 3)
    assert frames.dtype == np.uint8
    assert frames.std() > 1


def test_same_seed_is_bit_exact_and_seed_and_prompt_change_the_video(fast, baseline):
    assert np.array_equal(baseline, fast.generate(request(), no_progress))
    assert not np.array_equal(baseline, fast.generate(request(seed=1), no_progress))
    assert not np.array_equal(baseline, fast.generate(request(prompt="a dog running in the park"), no_progress))


@pytest.mark.parametrize("options", [{"motion_bucket_id": 30}, {"t2i_steps": 2}], ids=["motion_bucket_id", "t2i_steps"])
def test_options_of_either_stage_change_the_video(fast, baseline, options):
    assert not np.array_equal(baseline, fast.generate(request(options=options), no_progress))


def test_the_video_is_svd_animating_the_text_to_image_frame(fast, models_dir, baseline):
    still = fast.first_frame(request(), Progress(no_progress, 100), steps=1, guidance=0.0)
    assert still.size == (64, 64)
    svd = load_adapter(SVD_ENTRY, models_dir, CPU, torch.float32)
    assert np.array_equal(baseline, svd.generate(request(image=still), no_progress))


def test_an_input_image_skips_the_first_stage(fast, models_dir):
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 80, 3), dtype=np.uint8))
    calls = []
    frames = fast.generate(request(image=image), lambda done, total: calls.append((done, total)))
    assert calls == [(i, 4) for i in range(1, 5)]  # 3 SVD steps + 1 decode, no text-to-image step
    svd = load_adapter(SVD_ENTRY, models_dir, CPU, torch.float32)
    assert np.array_equal(frames, svd.generate(request(image=image), no_progress))


def test_progress_spans_both_stages_as_one_monotone_sequence(fast):
    calls = []
    fast.generate(request(options={"t2i_steps": 2, "decode_chunk_size": 3}),
                  lambda done, total: calls.append((done, total)))
    # 2 text-to-image steps + 3 SVD steps + ceil(6 / 3) decode chunks.
    assert calls == [(i, 7) for i in range(1, 8)]


@pytest.mark.parametrize("cancel_at", [2, 4], ids=["stage1", "stage2"])
def test_cancel_in_either_stage_aborts_and_the_adapter_stays_usable(fast, models_dir, cancel_at):
    calls = []

    def cancel(done, total):
        calls.append(done)
        if done == cancel_at:
            raise JobCancelled("cancelled by the user")

    req = request(seed=5, options={"t2i_steps": 2})  # ticks 1-2: text-to-image; 3-5: SVD steps; 6: decode
    with pytest.raises(JobCancelled):
        fast.generate(req, cancel)
    assert calls == list(range(1, cancel_at + 1))

    calls.clear()
    after = fast.generate(req, lambda done, total: calls.append(done))
    assert calls == list(range(1, 7))
    fresh = load_adapter(ENTRY, models_dir, CPU, torch.float32)
    assert np.array_equal(after, fresh.generate(req, no_progress))


def test_an_entry_without_t2i_source_is_refused(models_dir):
    entry = dataclasses.replace(ENTRY, extra={})
    with pytest.raises(ModelUnavailable, match="t2i_source"):
        load_adapter(entry, models_dir, CPU, torch.float32)


@pytest.mark.parametrize("source,path,expected", [
    ("builtin:svd-tiny-random", "/m/svd-tiny-random", "/m"),
    ("weights/svd-xt", "/m/weights/svd-xt", "/m"),
    ("stabilityai/stable-video-diffusion-img2vid-xt", "/m/stabilityai/stable-video-diffusion-img2vid-xt", "/m"),
    ("stabilityai/stable-video-diffusion-img2vid-xt",
     "/m/hub/models--stabilityai--stable-video-diffusion-img2vid-xt/snapshots/0123abcd", "/m"),
    ("/abs/svd-xt", "/abs/svd-xt", None),
])
def test_the_models_dir_is_recovered_from_each_source_form(source, path, expected):
    entry = dataclasses.replace(ENTRY, source=source)
    got = _models_dir_of(entry, Path(path))
    assert got == (Path(expected) if expected else None)
