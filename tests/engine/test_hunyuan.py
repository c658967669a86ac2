"""The HunyuanVideo adapter on the tiny random-weight pipeline, loaded through the production loader."""

import numpy as np
import pytest
import torch
from PIL import Image

from reelforge.catalog import FrameRule, ModelEntry
from reelforge.engine.adapters.base import GenerateRequest
from reelforge.engine.loader import load_adapter
from reelforge.errors import GenerationFailed, JobCancelled
from reelforge.jobs import Task
from tests.engine.progress import assert_steps_then_decode

CPU = torch.device("cpu")

ENTRY = ModelEntry(
    id="hunyuan-tiny-random", family="hunyuan", source="builtin:hunyuan-tiny-random", tasks=frozenset({Task.T2V}),
    description="tiny random HunyuanVideo", sizes=("32x32",), default_size="32x32", durations=(1,),
    default_seconds=1, fps=8, fps_range=(1, 30), frame_rule=FrameRule(4, 1), max_frames=33,
    default_steps=4, max_steps=50, default_guidance=6.0, native_multiple=16, random_weights=True,
)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run faster on one thread; several threads on shared cores thrash (4x slower here)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("hunyuan-models")


@pytest.fixture(scope="module")
def adapter(models_dir):
    return load_adapter(ENTRY, models_dir, CPU, torch.float32)


def request(**changes) -> GenerateRequest:
    values = dict(
        prompt="a cat walking on the street at night", negative_prompt=None, seed=0,
        num_inference_steps=4, guidance_scale=6.0, num_frames=9, width=32, height=16, fps=8,
    )
    values.update(changes)
    return GenerateRequest(**values)


def no_progress(done: int, total: int) -> None:
    pass


@pytest.mark.parametrize("num_frames,width,height", [(9, 32, 16), (13, 16, 32), (5, 48, 16), (1, 16, 16)])
def test_returns_the_requested_shape_as_uint8(adapter, num_frames, width, height):
    frames = adapter.generate(request(num_frames=num_frames, width=width, height=height), no_progress)
    assert frames.shape == (num_frames, height, width, 3)
    assert frames.dtype == np.uint8
    assert frames.std() > 1


def test_prompt_template_crop_removes_exactly_the_template(adapter):
    tok = adapter.pipe.tokenizer
    template = adapter.prompt_template
    prompt = "a cat walking"
    ids = tok(template["template"].format(prompt))["input_ids"]
    prompt_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    crop = template["crop_start"]
    # What survives the crop starts with the prompt, and everything before it is template.
    assert ids[crop:crop + len(prompt_ids)] == prompt_ids
    assert "<|start_header_id|>" in tok.convert_ids_to_tokens(ids[:crop])[-3:]
    embeds, mask = adapter.pipe._get_llama_prompt_embeds(prompt, template, max_sequence_length=16)
    assert embeds.shape[1] == 16
    # The prompt's tokens plus the closing <|eot_id|> are unmasked; the rest is padding.
    assert mask[0].tolist() == [1] * (len(prompt_ids) + 1) + [0] * (16 - len(prompt_ids) - 1)


def test_same_seed_is_bit_exact_and_seed_prompt_and_guidance_change_the_video(adapter):
    base = adapter.generate(request(), no_progress)
    assert np.array_equal(base, adapter.generate(request(), no_progress))
    assert not np.array_equal(base, adapter.generate(request(seed=1), no_progress))
    assert not np.array_equal(base, adapter.generate(request(prompt="a dog in the park"), no_progress))
    # Embedded (distilled) guidance is a transformer input.
    assert not np.array_equal(base, adapter.generate(request(guidance_scale=2.0), no_progress))


def test_negative_prompt_only_acts_through_true_cfg_scale(adapter):
    base = adapter.generate(request(), no_progress)
    # Guidance-distilled: without true CFG there is no unconditional pass, so it is ignored.
    assert np.array_equal(base, adapter.generate(request(negative_prompt="blurry"), no_progress))
    true_cfg = adapter.generate(request(negative_prompt="blurry", options={"true_cfg_scale": 3.0}), no_progress)
    assert not np.array_equal(base, true_cfg)
    other_negative = request(negative_prompt="a dog", options={"true_cfg_scale": 3.0})
    assert not np.array_equal(true_cfg, adapter.generate(other_negative, no_progress))


def test_on_step_reports_every_step_then_every_decode_call(adapter):
    calls = []
    adapter.generate(request(num_inference_steps=5), lambda done, total: calls.append((done, total)))
    assert_steps_then_decode(calls, steps=5)


def test_cancel_from_on_step_aborts_and_the_adapter_stays_usable(adapter, models_dir):
    calls = []

    def cancel_at_two(done, total):
        calls.append(done)
        if done == 2:
            raise JobCancelled("cancelled by the user")

    with pytest.raises(JobCancelled):
        adapter.generate(request(seed=7), cancel_at_two)
    assert calls == [1, 2]

    after = adapter.generate(request(seed=7), no_progress)
    fresh = load_adapter(ENTRY, models_dir, CPU, torch.float32)
    assert np.array_equal(after, fresh.generate(request(seed=7), no_progress))


def test_image_to_video_is_refused(adapter):
    with pytest.raises(GenerationFailed, match="HunyuanVideo here is text-to-video only"):
        adapter.generate(request(image=Image.new("RGB", (32, 16))), no_progress)


# 8 frames would come back as 5; 24 px is off the pipeline's 16 px grid.
@pytest.mark.parametrize("changes", [dict(num_frames=8), dict(num_frames=11), dict(width=24), dict(height=40)])
def test_off_grid_request_fails_clearly_instead_of_changing_the_video(adapter, changes):
    with pytest.raises(GenerationFailed, match="4k\\+1|multiple of 16"):
        adapter.generate(request(**changes), no_progress)
