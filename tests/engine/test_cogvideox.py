"""The CogVideoX adapter on tiny random-weight pipelines, loaded through the production loader.

One CogVideoX checkpoint serves one task (the I2V transformer takes twice the latent
channels), so there are two tiny models: the built-in text-to-video one and an
image-to-video one loaded from a local folder.
"""

import numpy as np
import pytest
import torch
from PIL import Image

from reelforge.catalog import FrameRule, ModelEntry
from reelforge.engine.adapters.base import GenerateRequest
from reelforge.engine.loader import load_adapter
from reelforge.engine.tiny.cogvideox import build_tiny_cogvideox_i2v
from reelforge.errors import GenerationFailed, JobCancelled
from reelforge.jobs import Task

from .conftest import BATCH_PROMPTS, assert_batched_as_alone
from tests.engine.progress import assert_steps_then_decode

CPU = torch.device("cpu")
I2V_FOLDER = "cogvideox-i2v-tiny-random"


def entry(source: str, tasks) -> ModelEntry:
    return ModelEntry(
        id=source.removeprefix("builtin:"), family="cogvideox", source=source, tasks=frozenset(tasks),
        description="tiny random CogVideoX", sizes=("32x32",), default_size="32x32", durations=(1,),
        default_seconds=1, fps=8, fps_range=(1, 30), frame_rule=FrameRule(8, 1), max_frames=49,
        default_steps=4, max_steps=50, default_guidance=6.0, native_multiple=16, random_weights=True,
    )


T2V_ENTRY = entry("builtin:cogvideox-tiny-random", {Task.T2V})
I2V_ENTRY = entry(I2V_FOLDER, {Task.I2V})


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run faster on one thread; several threads on shared cores thrash (4x slower here)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    models = tmp_path_factory.mktemp("cog-models")
    build_tiny_cogvideox_i2v(models / I2V_FOLDER)  # the t2v one is built by the loader (builtin source)
    return models


@pytest.fixture(scope="module")
def t2v(models_dir):
    return load_adapter(T2V_ENTRY, models_dir, CPU, torch.float32)


@pytest.fixture(scope="module")
def i2v(models_dir):
    return load_adapter(I2V_ENTRY, models_dir, CPU, torch.float32)


def gradient_image(width: int, height: int, flip: bool = False) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None, None]
    rgb = np.concatenate([np.broadcast_to(x, (height, width, 1)), np.broadcast_to(y, (height, width, 1)),
                          np.full((height, width, 1), 128, np.float32)], axis=2)
    return Image.fromarray((255 - rgb if flip else rgb).astype(np.uint8))


def request(**changes) -> GenerateRequest:
    values = dict(
        prompt="a cat walking on the street at night", negative_prompt="blurry", seed=0,
        num_inference_steps=4, guidance_scale=6.0, num_frames=9, width=32, height=16, fps=8,
    )
    values.update(changes)
    return GenerateRequest(**values)


def no_progress(done: int, total: int) -> None:
    pass


def pick(t2v, i2v, task):
    """The adapter and extra request fields for ``task``."""
    return (t2v, {}) if task == "t2v" else (i2v, {"image": gradient_image(40, 24)})


SHAPES = [(9, 32, 16), (17, 16, 32), (25, 48, 16)]  # (num_frames, width, height)


@pytest.mark.parametrize("task", ["t2v", "i2v"])
@pytest.mark.parametrize("num_frames,width,height", SHAPES)
def test_returns_the_requested_shape_as_uint8(t2v, i2v, task, num_frames, width, height):
    adapter, extra = pick(t2v, i2v, task)
    frames = adapter.generate(request(num_frames=num_frames, width=width, height=height, **extra), no_progress)
    assert frames.shape == (num_frames, height, width, 3)
    assert frames.dtype == np.uint8
    assert frames.std() > 1


def test_each_checkpoint_serves_the_task_its_transformer_supports(t2v, i2v):
    assert (t2v.task, i2v.task) == ("t2v", "i2v")
    assert type(t2v.pipe).__name__ == "CogVideoXPipeline"
    assert type(i2v.pipe).__name__ == "CogVideoXImageToVideoPipeline"
    with pytest.raises(GenerationFailed, match="text-to-video only"):
        t2v.generate(request(image=gradient_image(32, 16)), no_progress)
    with pytest.raises(GenerationFailed, match="image-to-video only"):
        i2v.generate(request(), no_progress)


@pytest.mark.parametrize("task", ["t2v", "i2v"])
def test_same_seed_is_bit_exact_and_seed_and_prompt_change_the_video(t2v, i2v, task):
    adapter, extra = pick(t2v, i2v, task)
    base = adapter.generate(request(**extra), no_progress)
    assert np.array_equal(base, adapter.generate(request(**extra), no_progress))
    assert not np.array_equal(base, adapter.generate(request(seed=1, **extra), no_progress))
    assert not np.array_equal(base, adapter.generate(request(prompt="a dog in the park", **extra), no_progress))


def test_negative_prompt_and_dynamic_cfg_reach_the_pipeline(t2v):
    base = t2v.generate(request(), no_progress)
    assert not np.array_equal(base, t2v.generate(request(negative_prompt="a dog"), no_progress))
    assert not np.array_equal(base, t2v.generate(request(options={"use_dynamic_cfg": True}), no_progress))


def test_i2v_output_depends_on_the_image(i2v):
    a = i2v.generate(request(image=gradient_image(32, 16)), no_progress)
    b = i2v.generate(request(image=gradient_image(32, 16, flip=True)), no_progress)
    assert not np.array_equal(a, b)


def test_on_step_reports_every_step_then_every_decode_call(t2v):
    calls = []
    t2v.generate(request(num_inference_steps=5), lambda done, total: calls.append((done, total)))
    assert_steps_then_decode(calls, steps=5)


@pytest.mark.parametrize("task", ["t2v", "i2v"])
def test_cancel_from_on_step_aborts_and_the_adapter_stays_usable(t2v, i2v, models_dir, task):
    adapter, extra = pick(t2v, i2v, task)
    calls = []

    def cancel_at_two(done, total):
        calls.append(done)
        if done == 2:
            raise JobCancelled("cancelled by the user")

    with pytest.raises(JobCancelled):
        adapter.generate(request(seed=7, **extra), cancel_at_two)
    assert calls == [1, 2]

    after = adapter.generate(request(seed=7, **extra), no_progress)
    fresh = load_adapter(T2V_ENTRY if task == "t2v" else I2V_ENTRY, models_dir, CPU, torch.float32)
    assert np.array_equal(after, fresh.generate(request(seed=7, **extra), no_progress))


# 13 and 8 frames would come back as 16 and 8 -> both are not 8k+1; 24 px is off the 16 px patch grid.
@pytest.mark.parametrize("changes", [dict(num_frames=13), dict(num_frames=8), dict(num_frames=5),
                                     dict(width=24), dict(height=40)])
def test_off_grid_request_fails_clearly_instead_of_changing_the_video(t2v, changes):
    with pytest.raises(GenerationFailed, match="8k\\+1|multiple of 16"):
        t2v.generate(request(**changes), no_progress)


def test_a_batched_text_to_video_call_gives_each_seed_its_clip_alone(t2v):
    assert_batched_as_alone(t2v, [request(prompt=p, seed=40 + i, negative_prompt="dark" if i else None)
                                  for i, p in enumerate(BATCH_PROMPTS)])
