"""Edits with the built-in model (SDEdit): the contract on a tiny random pipeline, then the shipped
weights judged from frames: a red circle's clip edited with a blue-circle prompt comes out blue and
keeps the source's motion and position track."""

import numpy as np
import pytest
import torch

from reelforge.engine.builtin.judge import judge
from reelforge.engine.builtin.pipeline import new_pipeline

SOURCE_PROMPT = "a red circle moving right on a black background"
EDIT_PROMPT = "a blue circle moving right on a black background"


@pytest.fixture(scope="module")
def tiny_pipe():
    torch.manual_seed(0)
    pipe = new_pipeline(channels=(8, 16, 16))
    with torch.no_grad():  # zero-initialised output layers would make every input look alike
        for p in pipe.denoiser.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    pipe.set_progress_bar_config(disable=True)
    pipe.text_encoder.eval()
    pipe.denoiser.eval()
    return pipe


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_an_edit_runs_the_last_steps_and_starts_from_the_source(tiny_pipe):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (12, 40, 56, 3), dtype=np.uint8)  # any size and length: resampled to 32x32x8
    b = rng.integers(0, 256, (12, 40, 56, 3), dtype=np.uint8)
    steps: list[int] = []

    def record(pipe, step, timestep, kwargs):
        steps.append(step)
        return kwargs

    out = tiny_pipe("a blue ball", video=a, strength=0.5, num_inference_steps=6, num_frames=12, height=40,
                    width=56, generator=_gen(0), callback_on_step_end=record).frames
    assert out.shape == (1, 12, 40, 56, 3)
    assert steps == [0, 1, 2] and tiny_pipe.num_timesteps == 3  # int(6 * 0.5) of 6

    def edit(video, strength):
        return tiny_pipe("a blue ball", video=video, strength=strength, num_inference_steps=6, generator=_gen(0)).frames

    # The source shows through at a partial strength; at strength 1 it is noised away entirely.
    assert np.abs(edit(a, 0.5) - edit(b, 0.5)).mean() > 1e-3
    np.testing.assert_allclose(edit(a, 1.0), edit(b, 1.0), atol=1e-6)
    with pytest.raises(ValueError, match="no step"):
        edit(a, 0.1)
    with pytest.raises(ValueError, match="strength"):
        edit(a, 0.0)


def track(clip: np.ndarray) -> np.ndarray:
    """The object's centroid (x, y) in each frame: the pixels far from the clip's background."""
    bg = np.median(clip.reshape(-1, 3), axis=0)
    fg = np.linalg.norm(clip - bg, axis=-1) > 0.3
    ys, xs = np.mgrid[0:clip.shape[1], 0:clip.shape[2]]
    return np.array([(xs[m].mean(), ys[m].mean()) for m in fg])


def test_shipped_model_edits_a_red_circle_blue_and_keeps_its_motion(shipped_pipe):
    source = shipped_pipe(SOURCE_PROMPT, generator=_gen(2)).frames[0]
    v = judge(source)
    assert (v.colour, v.shape, v.motion) == ("red", "circle", "right"), v
    src_u8 = (source * 255).round().astype(np.uint8)

    edited = shipped_pipe(EDIT_PROMPT, video=src_u8, strength=0.6, generator=_gen(102)).frames[0]
    e = judge(edited)
    assert (e.colour, e.motion, e.background) == ("blue", "right", "black"), e
    # The motion kept is the source's own: the object follows the source's track frame by frame
    # (within ~1/16 of the frame), where a fresh text-to-video clip of the edit prompt, from the same
    # noise, starts elsewhere.
    fresh = shipped_pipe(EDIT_PROMPT, generator=_gen(102)).frames[0]
    kept = np.abs(track(edited) - track(source)).mean()
    other = np.abs(track(fresh) - track(source)).mean()
    print(f"track error: edit {kept:.2f} px, fresh clip {other:.2f} px")
    assert kept < 2.0 and kept < other / 2, (kept, other)
