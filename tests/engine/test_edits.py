"""Edits (video-to-video) on the tiny random-weight diffusers families, through the production loader:
Wan 2.1 T2V, CogVideoX T2V and AnimateDiff each run their diffusers video-to-video pipeline, built
from the loaded modules. Random weights draw nothing recognisable, so the checks are structural: the
shape, a strength that decides how far the output moves from the source, progress over exactly the
steps an edit runs, and clear refusals.
"""

import numpy as np
import pytest
import torch

from reelforge.catalog import Catalog, FrameRule, ModelEntry
from reelforge.engine.adapters.base import GenerateRequest
from reelforge.engine.loader import load_adapter
from reelforge.engine.runtime import Engine
from reelforge.errors import GenerationFailed
from reelforge.jobs import Task
from tests.engine.progress import assert_steps_then_decode

from .conftest import CPU, no_progress

# (source, family, num_frames, size, frame rule): each family's smallest legal clip.
FAMILIES = {
    "wan": ("builtin:wan-tiny-random", 9, 16, FrameRule(4, 1)),
    "cogvideox": ("builtin:cogvideox-tiny-random", 9, 32, FrameRule(8, 1)),
    "animatediff": ("builtin:animatediff-tiny-random", 8, 32, FrameRule()),
}


def make_entry(family: str) -> ModelEntry:
    source, frames, size, rule = FAMILIES[family]
    return ModelEntry(
        id=f"{family}-edit-test", family=family, source=source, tasks=frozenset({Task.T2V, Task.EDIT}),
        description="tiny random", sizes=(f"{size}x{size}",), default_size=f"{size}x{size}", durations=(1,),
        default_seconds=1, fps=8, fps_range=(1, 30), frame_rule=rule, max_frames=64, default_steps=4,
        max_steps=50, default_guidance=5.0, native_max_pixels=size * size, native_multiple=8, random_weights=True,
    )


def source_clip(frames: int, size: int) -> np.ndarray:
    """A bright square sliding right over a dark ramp: structure a VAE keeps."""
    clip = np.zeros((frames, size, size, 3), np.uint8)
    clip[..., 2] = np.linspace(0, 120, size, dtype=np.uint8)[None, :, None]
    for t in range(frames):
        x = t * (size // 2) // max(frames - 1, 1)
        clip[t, size // 4: size // 2, x: x + size // 4] = (240, 200, 40)
    return clip


def edit_req(family: str, **changes) -> GenerateRequest:
    _, frames, size, _ = FAMILIES[family]
    values = dict(
        prompt="a cat walking on the street at night", negative_prompt="blurry", seed=0,
        num_inference_steps=4, guidance_scale=5.0, num_frames=frames, width=size, height=size, fps=8,
        video=source_clip(frames, size), strength=0.5,
    )
    values.update(changes)
    return GenerateRequest(**values)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("edit-models")


@pytest.fixture(scope="module")
def adapters(models_dir):
    return {}


def adapter_for(adapters, models_dir, family):
    if family not in adapters:
        adapters[family] = load_adapter(make_entry(family), models_dir, CPU, torch.float32)
    return adapters[family]


def mean_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


@pytest.mark.parametrize("family", list(FAMILIES))
def test_edit_returns_the_source_shape_and_runs_only_the_strength_s_steps(adapters, models_dir, family):
    adapter = adapter_for(adapters, models_dir, family)
    r = edit_req(family, strength=0.25)
    calls: list[tuple[int, int]] = []
    out = adapter.generate(r, lambda d, t: calls.append((d, t)))
    assert out.shape == r.video.shape and out.dtype == np.uint8 and out.std() > 0
    # An edit runs only the last int(steps * strength) steps (here 1 of 4), then the VAE decode,
    # against a total that was right from the first tick.
    assert_steps_then_decode(calls, steps=1)
    assert np.array_equal(out, adapter.generate(r, no_progress))
    assert not np.array_equal(out, adapter.generate(edit_req(family, strength=1.0), no_progress))


# The tiny random Wan VAE encodes every clip to nearly the same latent (a random encoder's outputs are
# tiny next to the noise), so the source's effect is measured where the random VAEs keep it.
@pytest.mark.parametrize("family", ["cogvideox", "animatediff"])
def test_the_source_shows_through_in_proportion_to_the_strength_left(adapters, models_dir, family):
    adapter = adapter_for(adapters, models_dir, family)
    rng = np.random.default_rng(0)
    a = edit_req(family).video
    b = rng.integers(0, 256, a.shape, dtype=np.uint8)

    def apart(strength: float) -> float:
        return mean_abs(adapter.generate(edit_req(family, video=a, strength=strength), no_progress),
                        adapter.generate(edit_req(family, video=b, strength=strength), no_progress))

    # Two sources give far apart edits at a low strength, and nearly the same one at strength 1,
    # where the source is noised (almost) away.
    partial, full = apart(0.25), apart(1.0)
    assert partial > 5.0 and full < partial / 2, (partial, full)


def test_edit_refusals(adapters, models_dir):
    wan = adapter_for(adapters, models_dir, "wan")
    with pytest.raises(GenerationFailed, match="leaves no denoising step"):
        wan.generate(edit_req("wan", strength=0.1), no_progress)
    with pytest.raises(GenerationFailed, match="source video has 5 frames"):
        wan.generate(edit_req("wan", video=source_clip(5, 16)), no_progress)


def test_a_family_without_video_to_video_refuses_an_edit(tiny_models_dir, tiny_entry):
    # LTX has no video-to-video pipeline in diffusers (LTXConditionPipeline conditions on frames; its
    # denoise_strength needs latents we would have to encode and pack ourselves).
    engine = Engine(tiny_models_dir, Catalog(), device_pref="cpu")
    r = GenerateRequest(prompt="x", seed=0, num_inference_steps=2, guidance_scale=3.0, num_frames=9, width=32,
                        height=32, fps=8, video=source_clip(9, 32), strength=0.5)
    with pytest.raises(GenerationFailed, match="cannot edit a video"):
        engine.run(tiny_entry, r, no_progress)
