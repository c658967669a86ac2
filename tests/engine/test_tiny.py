"""The `tiny` adapter: the shipped built-in weights loaded through the production loader, as a worker does."""

import numpy as np
import pytest
import torch
from PIL import Image

from reelforge.catalog import Catalog
from reelforge.engine.builtin import WEIGHTS_DIR, world
from reelforge.engine.builtin.evaluate import psnr
from reelforge.engine.builtin.judge import judge
from reelforge.engine.loader import load_adapter, resolve_weights
from reelforge.errors import GenerationFailed, JobCancelled

from .conftest import CPU, make_request, no_progress

PROMPT = "a red circle moving right on a black background"


@pytest.fixture(scope="module")
def entry():
    return Catalog().resolve("reelforge-tiny")


@pytest.fixture(scope="module")
def tiny_adapter(entry, tmp_path_factory):
    return load_adapter(entry, tmp_path_factory.mktemp("models"), CPU, torch.float32)


def request(**changes):
    values = dict(prompt=PROMPT, negative_prompt=None, num_inference_steps=20, guidance_scale=4.0,
                  num_frames=8, width=32, height=32)
    return make_request(**{**values, **changes})


def test_it_is_the_default_and_the_openai_aliases_point_at_it(entry):
    catalog = Catalog()
    assert catalog.resolve(None) is entry and catalog.resolve("sora-2") is entry
    assert not entry.random_weights and entry.family == "tiny"


def test_the_shipped_weights_load_in_place(entry, tmp_path):
    # Packaged weights are read where they are installed: nothing is built or copied into the models folder.
    assert resolve_weights(entry, tmp_path) == WEIGHTS_DIR
    assert list(tmp_path.iterdir()) == []


def test_fixed_seed_follows_the_prompt(tiny_adapter):
    frames = tiny_adapter.generate(request(seed=0), no_progress)
    assert frames.shape == (8, 32, 32, 3) and frames.dtype == np.uint8
    v = judge(frames)
    assert (v.colour, v.motion, v.background) == ("red", "right", "black"), v


@pytest.mark.parametrize("num_frames,width,height", [(33, 256, 144), (12, 96, 160), (1, 64, 64)])
def test_any_size_and_frame_count(tiny_adapter, num_frames, width, height):
    frames = tiny_adapter.generate(request(num_frames=num_frames, width=width, height=height), no_progress)
    assert frames.shape == (num_frames, height, width, 3)


def test_wide_frames_add_background_instead_of_stretching(tiny_adapter):
    square = tiny_adapter.generate(request(prompt="a white square standing still on navy", width=64, height=64), no_progress)
    wide = tiny_adapter.generate(request(prompt="a white square standing still on navy", width=128, height=64), no_progress)
    # Same seed and canvas: the wide video's middle is the square video, its sides are background.
    assert np.abs(wide[:, :, 32:96].astype(int) - square.astype(int)).mean() < 3
    v = judge(wide)
    assert v.background == "navy" and v.shape == judge(square).shape


def test_image_to_video_starts_from_the_image(tiny_adapter):
    rng = np.random.default_rng(3)
    scene = world.Scene((world.Obj("green", "star"),), "up", "gray")
    first = (world.render(scene, rng, free_start=True)[0][0] * 255).round().astype(np.uint8)
    frames = tiny_adapter.generate(request(prompt="a green star rising on gray", image=Image.fromarray(first)), no_progress)
    assert psnr(frames[0] / 255.0, first / 255.0) >= 25


def test_progress_ticks_every_step_and_cancel_stops_it(tiny_adapter):
    calls = []
    tiny_adapter.generate(request(num_inference_steps=5), lambda done, total: calls.append((done, total)))
    assert calls == [(i, 5) for i in range(1, 6)]

    def cancel(done, total):
        if done == 2:
            raise JobCancelled("job_1")

    with pytest.raises(JobCancelled):
        tiny_adapter.generate(request(), cancel)


def test_refuses_what_it_cannot_do(tiny_adapter):
    with pytest.raises(GenerationFailed, match="last frame"):
        tiny_adapter.generate(request(last_image=Image.new("RGB", (32, 32))), no_progress)
