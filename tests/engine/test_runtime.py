"""The worker engine: resident models (LRU by count and by memory budget), error mapping, device choice,
spec -> request."""

import dataclasses
import gc
import logging
import shutil
import weakref

import numpy as np
import pytest
import torch

from reelforge.catalog import Catalog
from reelforge.engine.adapters.base import GenerateRequest
from reelforge.engine.device import select_device
from reelforge.engine.memory import device_bytes
from reelforge.engine.runtime import Engine
from reelforge.errors import GenerationFailed, JobCancelled, LeaseLost, Unavailable
from reelforge.jobs import JobSpec, Task

from .conftest import CPU, make_request, no_progress


@pytest.fixture
def three_models(tmp_path, tiny_models_dir, tiny_entry):
    """Three catalog entries over copies of the tiny model: the builtin one and two local folders."""
    models = tmp_path / "models"
    shutil.copytree(tiny_models_dir / "ltx-tiny-random", models / "ltx-tiny-random")
    entries = [tiny_entry]
    for name in ("copy-b", "copy-c"):
        shutil.copytree(tiny_models_dir / "ltx-tiny-random", models / name)
        entries.append(dataclasses.replace(tiny_entry, id=name, source=name, aliases=()))
    return models, entries


def test_max_resident_one_evicts_and_frees_the_previous_model(three_models):
    models, (a, b, _) = three_models
    engine = Engine(models, Catalog((a, b)), device_pref="cpu", max_resident=1)

    first = engine.run(a, make_request(), no_progress)
    gone = weakref.ref(engine.adapter(a))
    assert engine.resident == [a.id]

    assert engine.run(b, make_request(), no_progress).shape == first.shape
    assert engine.resident == [b.id]
    gc.collect()
    assert gone() is None  # evicted means unreferenced, so its memory can be reclaimed

    # Reloading the evicted model reproduces its output exactly.
    assert np.array_equal(engine.run(a, make_request(), no_progress), first)
    assert engine.resident == [a.id]


def test_least_recently_used_goes_first(three_models):
    models, (a, b, c) = three_models
    engine = Engine(models, Catalog((a, b, c)), device_pref="cpu", max_resident=2)
    req = make_request(num_frames=9, num_inference_steps=2)

    engine.run(a, req, no_progress)
    kept = engine.adapter(a)
    engine.run(b, req, no_progress)
    engine.run(a, req, no_progress)  # a is now the most recent
    assert engine.resident == [b.id, a.id]
    engine.run(c, req, no_progress)
    assert engine.resident == [a.id, c.id]
    assert engine.adapter("ltx-tiny-random") is kept  # still loaded, not reloaded; names resolve via the catalog


@pytest.fixture(scope="module")
def model_bytes(ltx_adapter) -> int:
    """What one tiny model takes in (CPU) memory, as the engine measures it."""
    return device_bytes(ltx_adapter, CPU)


def test_memory_budget_evicts_least_recently_used_until_the_new_model_fits(three_models, model_bytes):
    models, (a, b, c) = three_models
    engine = Engine(models, Catalog((a, b, c)), device_pref="cpu", max_resident=3,
                    max_resident_bytes=int(2.5 * model_bytes))
    for entry in (a, b, a):  # a is now the most recent
        engine.adapter(entry)
    assert engine.resident == [b.id, a.id] and engine.resident_bytes == 2 * model_bytes

    engine.adapter(c)  # three would not fit in 2.5 models' worth: b (least recent) goes, though the count allows 3
    assert engine.resident == [a.id, c.id] and engine.resident_bytes == 2 * model_bytes


def test_a_model_bigger_than_the_whole_budget_loads_alone_with_a_warning(three_models, model_bytes, caplog):
    models, (a, b, _) = three_models
    engine = Engine(models, Catalog((a, b)), device_pref="cpu", max_resident=3, max_resident_bytes=model_bytes // 2)
    with caplog.at_level(logging.WARNING, logger="reelforge.engine"):
        assert engine.run(a, make_request(num_frames=9, num_inference_steps=2), no_progress).shape == (9, 64, 128, 3)
    assert engine.resident == [a.id]
    assert f"model {a.id} takes" in caplog.text and "more than the whole budget" in caplog.text

    engine.adapter(b)
    assert engine.resident == [b.id]


def test_the_count_limit_still_holds_within_a_roomy_budget(three_models, model_bytes):
    models, (a, b, c) = three_models
    engine = Engine(models, Catalog((a, b, c)), device_pref="cpu", max_resident=2, max_resident_bytes=100 * model_bytes)
    for entry in (a, b, c):
        engine.adapter(entry)
    assert engine.resident == [b.id, c.id]


def test_room_is_made_from_the_estimate_before_loading(three_models, model_bytes):
    # b's weights are intact, so their size is known before loading, but its folder cannot load.
    # The least recently used model is already gone when the load fails: eviction came first.
    models, (a, b, _) = three_models
    (models / b.source / "text_encoder" / "config.json").write_text("{not json")
    engine = Engine(models, Catalog((a, b)), device_pref="cpu", max_resident=3,
                    max_resident_bytes=int(1.5 * model_bytes))
    engine.adapter(a)
    with pytest.raises(GenerationFailed, match=f"could not load model '{b.id}'"):
        engine.adapter(b)
    assert engine.resident == [] and engine.resident_bytes == 0


def test_cancel_and_lease_lost_pass_through_unwrapped(tiny_models_dir, tiny_entry):
    engine = Engine(tiny_models_dir, Catalog(), device_pref="cpu")
    for error in (JobCancelled("stop"), LeaseLost("gone")):
        def on_step(done, total, error=error):
            raise error

        with pytest.raises(type(error)) as raised:
            engine.run(tiny_entry, make_request(), on_step)
        assert raised.value is error


def test_other_model_errors_become_generation_failed_with_the_cause(tiny_models_dir, tiny_entry):
    engine = Engine(tiny_models_dir, Catalog(), device_pref="cpu")

    def broken_step(done, total):
        raise RuntimeError("boom inside the denoising loop")

    with pytest.raises(GenerationFailed, match="ltx-tiny-random.*RuntimeError: boom") as raised:
        engine.run(tiny_entry, make_request(), broken_step)
    assert isinstance(raised.value.__cause__, RuntimeError)
    # The model is still usable afterwards.
    assert engine.run(tiny_entry, make_request(num_frames=9), no_progress).shape == (9, 64, 128, 3)


def test_corrupt_weights_fail_to_load_as_generation_failed(tmp_path, tiny_models_dir, tiny_entry):
    shutil.copytree(tiny_models_dir / "ltx-tiny-random", tmp_path / "ltx-tiny-random")
    (tmp_path / "ltx-tiny-random" / "transformer" / "diffusion_pytorch_model.safetensors").write_bytes(b"not weights")
    engine = Engine(tmp_path, Catalog(), device_pref="cpu")
    with pytest.raises(GenerationFailed, match="could not load model 'ltx-tiny-random'") as raised:
        engine.run(tiny_entry, make_request(), no_progress)
    assert raised.value.__cause__ is not None
    assert engine.resident == []


def test_device_selection():
    assert select_device("cpu") == (torch.device("cpu"), torch.float32)
    device, dtype = select_device("auto")
    if torch.cuda.is_available():
        assert device.type == "cuda" and dtype in (torch.bfloat16, torch.float16)
    else:
        assert device.type in ("cpu", "mps")
        with pytest.raises(Unavailable, match="CUDA is not available"):
            select_device("cuda")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        select_device("tpu")


def test_request_from_spec_uses_the_native_size(tiny_entry):
    spec = JobSpec(model="ltx-tiny-random", task=Task.T2V, prompt="a cat", seed=5, num_inference_steps=8,
                   guidance_scale=3.0, fps=8, num_frames=33, width=1280, height=720, seconds=4)
    req = GenerateRequest.from_spec(spec, tiny_entry)
    assert (req.width, req.height) == tiny_entry.native_size(1280, 720)
    assert req.width % 32 == 0 and req.height % 32 == 0
    assert (req.prompt, req.seed, req.num_frames, req.fps, req.image) == ("a cat", 5, 33, 8, None)
