"""Pipeline contract on a tiny random-weight pipeline (fast), then the shipped weights."""

import numpy as np
import PIL.Image
import pytest
import torch

from reelforge.engine.builtin import WEIGHTS_DIR, world
from reelforge.engine.builtin.evaluate import psnr
from reelforge.engine.builtin.judge import judge
from reelforge.engine.builtin.pipeline import BuiltinVideoPipeline, new_pipeline

PROMPT = "a red circle moving right on a black background"


@pytest.fixture(scope="module")
def tiny_pipe():
    torch.manual_seed(0)
    pipe = new_pipeline(channels=(8, 16, 16))
    with torch.no_grad():  # zero-initialised output layers would make every seed look alike
        for p in pipe.denoiser.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    pipe.set_progress_bar_config(disable=True)
    # Inference mode, as from_pretrained loads it (torch's transformer layers take a fused path in eval).
    pipe.text_encoder.eval()
    pipe.denoiser.eval()
    return pipe


def _run(pipe, seed, **kw):
    kw.setdefault("num_inference_steps", 3)
    return pipe(PROMPT, generator=torch.Generator().manual_seed(seed), **kw).frames


def test_save_load_round_trip(tiny_pipe, tmp_path):
    tiny_pipe.save_pretrained(tmp_path)
    assert (tmp_path / "model_index.json").exists()
    loaded = BuiltinVideoPipeline.from_pretrained(tmp_path)
    loaded.set_progress_bar_config(disable=True)
    for name in ("text_encoder", "denoiser"):
        saved, back = getattr(tiny_pipe, name).state_dict(), getattr(loaded, name).state_dict()
        assert saved.keys() == back.keys() and all(torch.equal(saved[k], back[k]) for k in saved)
    # Identical weights; the clips may differ in float rounding (memory-mapped tensors take other kernels).
    np.testing.assert_allclose(_run(loaded, 3), _run(tiny_pipe, 3), atol=2e-4)


def test_seeds_and_output_contract(tiny_pipe):
    a, b, c = _run(tiny_pipe, 1), _run(tiny_pipe, 1), _run(tiny_pipe, 2)
    assert a.shape == (1, 8, 32, 32, 3) and a.dtype == np.float32
    assert 0.0 <= a.min() and a.max() <= 1.0
    assert np.array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3
    assert tiny_pipe.num_timesteps == 3


def test_resamples_to_requested_size_and_frames(tiny_pipe):
    out = _run(tiny_pipe, 0, num_frames=12, height=48, width=64)
    assert out.shape == (1, 12, 48, 64, 3)
    pt = _run(tiny_pipe, 0, output_type="pt", negative_prompt="blue")
    assert isinstance(pt, torch.Tensor) and pt.shape == (1, 8, 32, 32, 3)


def test_callback_sees_every_step_and_its_exception_propagates(tiny_pipe):
    seen = []

    def record(pipe, step, timestep, kwargs):
        seen.append(step)
        assert set(kwargs) == {"latents"}
        return kwargs

    _run(tiny_pipe, 0, callback_on_step_end=record)
    assert seen == [0, 1, 2]

    class Cancelled(Exception):
        pass

    def cancel(pipe, step, timestep, kwargs):
        if step == 1:
            raise Cancelled
        return kwargs

    with pytest.raises(Cancelled):
        _run(tiny_pipe, 0, callback_on_step_end=cancel)


def test_image_to_video_keeps_the_first_frame(tiny_pipe):
    image = PIL.Image.fromarray((np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8))
    out = _run(tiny_pipe, 0, image=image)
    assert psnr(out[0, 0], np.asarray(image) / 255.0) > 40


# --- the shipped weights -----------------------------------------------------------------------


def test_shipped_weights_are_small():
    files = [p for p in WEIGHTS_DIR.rglob("*") if p.is_file()]
    assert any(p.suffix == ".safetensors" for p in files)
    assert sum(p.stat().st_size for p in files) <= 20 * 1024 * 1024


def test_shipped_model_follows_a_prompt(shipped_pipe):
    clip = shipped_pipe(PROMPT, generator=torch.Generator().manual_seed(0)).frames[0]
    v = judge(clip)
    assert (v.colour, v.motion, v.background) == ("red", "right", "black"), v


def test_shipped_model_image_to_video(shipped_pipe):
    rng = np.random.default_rng(5)
    scene = world.Scene((world.Obj("yellow", "square"),), "down", "navy")
    first = (world.render(scene, rng)[0][0] * 255).round().astype(np.uint8)
    clip = shipped_pipe("a yellow square moving down on navy", image=PIL.Image.fromarray(first),
                        generator=torch.Generator().manual_seed(0)).frames[0]
    assert psnr(clip[0], first / 255.0) >= 25
    assert judge(clip).motion == "down"


def test_grid_has_a_row_per_prompt_and_a_column_per_frame(tiny_pipe):
    from reelforge.engine.builtin.grid import grid

    sheet = grid(tiny_pipe, prompts=("a red ball", "blue box on gray"), cell=40, label_height=10)
    assert sheet.size == (8 * 40, 2 * 50)
