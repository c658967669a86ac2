"""The AnimateDiff adapter on tiny random-weight SD1.5 + MotionAdapter pipelines, through the production loader:
shapes, seeding, prompt travel, LoRAs (and their unloading), clip_skip, swapped-in base checkpoints
(diffusers folder and single-file), progress and cancel."""

import numpy as np
import pytest
import torch
from PIL import Image

from reelforge.catalog import FrameRule, ModelEntry
from reelforge.engine.adapters.base import GenerateRequest, LoraWeight, Segment
from reelforge.engine.loader import load_adapter
from reelforge.engine.tiny.animatediff import (
    build_tiny_motion_adapter,
    build_tiny_sd15,
    write_tiny_lora,
    write_tiny_single_file_checkpoint,
)
from reelforge.errors import GenerationFailed, JobCancelled
from reelforge.jobs import Task
from tests.engine.progress import assert_steps_then_decode

from .conftest import CPU, no_progress


def assert_same_model(a: np.ndarray, b: np.ndarray) -> None:
    """Equal up to float rounding. The first LoRA load/unload in a process moves a few pixels by one
    level (~1e-6 in float, with every weight, module and hook verified identical); a LoRA left loaded
    moves nearly every pixel by many levels."""
    diff = np.abs(a.astype(int) - b.astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3, (diff.max(), (diff > 0).mean())


def make_entry(source="builtin:animatediff-tiny-random", **extra) -> ModelEntry:
    return ModelEntry(
        id="animatediff-test", family="animatediff", source=source, tasks=frozenset({Task.T2V}),
        description="tiny random AnimateDiff", sizes=("64x64",), default_size="64x64", durations=(2,),
        default_seconds=2, fps=8, fps_range=(1, 30), frame_rule=FrameRule(), max_frames=64, default_steps=3,
        max_steps=50, default_guidance=7.5, native_max_pixels=64 * 64, native_multiple=8, random_weights=True,
        extra=extra,
    )


def req(**changes) -> GenerateRequest:
    values = dict(
        prompt="a cat walking on the street at night", negative_prompt="blurry", seed=0,
        num_inference_steps=2, guidance_scale=7.5, num_frames=8, width=32, height=32, fps=8,
    )
    values.update(changes)
    return GenerateRequest(**values)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("animatediff")
    files = dict(
        root=root,
        sd=build_tiny_sd15(root / "sd15-seed3", seed=3),  # another base: a diffusers folder ...
        single=write_tiny_single_file_checkpoint(root / "sd15-seed3.safetensors", seed=3),  # ... and as one file
        motion=build_tiny_motion_adapter(root / "motion-adapter"),
        lora_kohya=write_tiny_lora(root / "lora-kohya.safetensors", seed=1, fmt="kohya"),
        lora_peft=write_tiny_lora(root / "lora-peft.safetensors", seed=2, fmt="peft"),
    )
    return files


@pytest.fixture(scope="module")
def entry(models):
    return make_entry(single_file_config=str(models["sd"]))


@pytest.fixture(scope="module")
def adapter(models, entry):
    return load_adapter(entry, models["root"], CPU, torch.float32)


@pytest.fixture(scope="module")
def baseline(adapter):
    return adapter.generate(req(), no_progress)


@pytest.mark.parametrize("num_frames,width,height", [(8, 64, 64), (12, 64, 32), (5, 32, 48)])
def test_returns_the_requested_shape_as_uint8(adapter, num_frames, width, height):
    frames = adapter.generate(req(num_frames=num_frames, width=width, height=height), no_progress)
    assert frames.shape == (num_frames, height, width, 3)
    assert frames.dtype == np.uint8
    assert frames.std() > 1


def test_same_seed_is_bit_exact_and_seed_and_negative_prompt_change_the_video(adapter, baseline):
    assert np.array_equal(baseline, adapter.generate(req(), no_progress))
    assert not np.array_equal(baseline, adapter.generate(req(seed=1), no_progress))
    assert not np.array_equal(baseline, adapter.generate(req(negative_prompt="ugly, watermark"), no_progress))


def test_long_single_prompt_beyond_the_motion_window_runs(adapter):
    # 40 frames > the tiny motion module's 32 positions: FreeNoise windows it; the next short call is plain again.
    before = adapter.generate(req(), no_progress)
    frames = adapter.generate(req(num_frames=40), no_progress)
    assert frames.shape == (40, 32, 32, 3)
    assert np.array_equal(before, adapter.generate(req(), no_progress))


def test_prompt_travel_segments(adapter):
    before = adapter.generate(req(), no_progress)
    segs = (Segment("a cat walking on the street at night", 8), Segment("a dog running in the park", 8),
            Segment("a car at sunset", 8))
    travel = adapter.generate(req(num_frames=24, segments=segs), no_progress)
    assert travel.shape == (24, 32, 32, 3)
    single = adapter.generate(req(num_frames=24), no_progress)
    assert not np.array_equal(travel, single)
    # Later frames follow later prompts: the last third differs from a travel that keeps the first prompt.
    same_start = (segs[0], segs[1], Segment("a cat walking on the street at night", 8))
    other = adapter.generate(req(num_frames=24, segments=same_start), no_progress)
    assert not np.array_equal(travel[16:], other[16:])
    assert np.array_equal(travel, adapter.generate(req(num_frames=24, segments=segs), no_progress))
    # FreeNoise is off again for a plain request.
    assert np.array_equal(before, adapter.generate(req(), no_progress))


@pytest.mark.parametrize("counts", [(4, 3), (8, 0, 8)])
def test_segments_must_sum_to_num_frames(adapter, counts):
    segs = tuple(Segment(f"prompt {i}", n) for i, n in enumerate(counts))
    with pytest.raises(GenerationFailed, match="sum to num_frames"):
        adapter.generate(req(num_frames=8, segments=segs), no_progress)


@pytest.mark.parametrize("fmt", ["lora_kohya", "lora_peft"])
def test_lora_changes_the_output_by_strength_and_is_unloaded_after(adapter, models, baseline, fmt):
    full = adapter.generate(req(loras=(LoraWeight(models[fmt], 1.0),)), no_progress)
    assert not np.array_equal(full, baseline)
    half = adapter.generate(req(loras=(LoraWeight(models[fmt], 0.5),)), no_progress)
    zero = adapter.generate(req(loras=(LoraWeight(models[fmt], 0.0),)), no_progress)
    assert not np.array_equal(full, half) and not np.array_equal(full, zero)
    assert np.abs(zero.astype(int) - baseline.astype(int)).max() <= 1  # strength 0 is the base model
    assert adapter.pipe.get_list_adapters() == {}
    assert_same_model(baseline, adapter.generate(req(), no_progress))
    assert (np.abs(full.astype(int) - baseline.astype(int)) > 1).mean() > 0.5  # what a leftover LoRA looks like


def test_two_loras_combine(adapter, models, baseline):
    a = LoraWeight(models["lora_kohya"], 1.0)
    b = LoraWeight(models["lora_peft"], 1.0)
    only_a = adapter.generate(req(loras=(a,)), no_progress)
    both = adapter.generate(req(loras=(a, b)), no_progress)
    assert not np.array_equal(only_a, both)
    assert_same_model(baseline, adapter.generate(req(), no_progress))


def test_a_broken_lora_fails_clearly_and_leaves_the_base_clean(adapter, models, baseline, tmp_path):
    bad = tmp_path / "not-a-lora.safetensors"
    bad.write_bytes(b"garbage")
    with pytest.raises(GenerationFailed, match="LoRA"):
        adapter.generate(req(loras=(LoraWeight(models["lora_kohya"], 1.0), LoraWeight(bad, 1.0))), no_progress)
    assert adapter.pipe.get_list_adapters() == {}
    assert_same_model(baseline, adapter.generate(req(), no_progress))


def test_clip_skip_uses_an_earlier_text_layer(adapter):
    plain = adapter.generate(req(), no_progress)
    assert np.array_equal(plain, adapter.generate(req(options={"clip_skip": 1}), no_progress))
    assert not np.array_equal(plain, adapter.generate(req(options={"clip_skip": 2}), no_progress))


def test_base_checkpoint_folder_and_single_file_give_the_same_video(adapter, models):
    baseline = adapter.generate(req(), no_progress)
    folder = adapter.generate(req(options={"checkpoint": str(models["sd"])}), no_progress)
    assert not np.array_equal(folder, baseline)  # another base, the same motion adapter
    single = adapter.generate(req(options={"checkpoint": str(models["single"])}), no_progress)
    # The single file holds the same weights in the original layout; diffusers converts them back.
    assert np.array_equal(folder, single)
    assert np.array_equal(baseline, adapter.generate(req(), no_progress))


def test_sd_base_plus_motion_adapter_from_the_catalog(models):
    entry = make_entry(source=str(models["sd"]), motion_adapter=str(models["motion"]))
    sd_adapter = load_adapter(entry, models["root"], CPU, torch.float32)
    frames = sd_adapter.generate(req(), no_progress)
    assert frames.shape == (8, 32, 32, 3)
    # Its own folder is the single-file config; the single file of the same base gives the same video.
    assert np.array_equal(frames, sd_adapter.generate(req(options={"checkpoint": str(models["single"])}), no_progress))


def test_sd_base_without_motion_adapter_is_unavailable(models):
    from reelforge.errors import ModelUnavailable

    with pytest.raises(ModelUnavailable, match="motion_adapter"):
        load_adapter(make_entry(source=str(models["sd"])), models["root"], CPU, torch.float32)


def test_on_step_reports_every_step_then_every_decode_call(adapter):
    calls = []
    adapter.generate(req(num_inference_steps=5), lambda done, total: calls.append((done, total)))
    assert_steps_then_decode(calls, steps=5)


def test_cancel_aborts_at_step_two_and_the_adapter_stays_usable(adapter, models, entry, baseline):
    calls = []

    def cancel_at_two(done, total):
        calls.append(done)
        if done == 2:
            raise JobCancelled("cancelled by the user")

    with pytest.raises(JobCancelled):
        adapter.generate(req(seed=7, loras=(LoraWeight(models["lora_kohya"], 1.0),)), cancel_at_two)
    assert calls == [1, 2]
    assert adapter.pipe.get_list_adapters() == {}  # the LoRA was unloaded on the way out
    after = adapter.generate(req(seed=7), no_progress)
    fresh = load_adapter(entry, models["root"], CPU, torch.float32)
    assert_same_model(after, fresh.generate(req(seed=7), no_progress))
    assert_same_model(baseline, adapter.generate(req(), no_progress))


def test_image_to_video_and_closed_loop_fail_clearly(adapter):
    with pytest.raises(GenerationFailed, match="text only"):
        adapter.generate(req(image=Image.new("RGB", (32, 32))), no_progress)
    with pytest.raises(GenerationFailed, match="closed_loop"):
        adapter.generate(req(options={"closed_loop": True}), no_progress)
    with pytest.raises(GenerationFailed, match="multiple of 8"):
        adapter.generate(req(width=36), no_progress)
