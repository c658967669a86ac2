"""Memory policies on the tiny models: VAE tiling, offload (which a CPU runs as resident), sizes.

Offloading itself needs an accelerator: on this CPU-only suite the tests can show that an offload
policy is skipped (no hooks, weights in host memory, generation unchanged) and that on an
accelerator it would load on the host first and offload; the hooks themselves are diffusers'.
"""

import dataclasses
import logging

import numpy as np
import pytest
import torch

from reelforge.catalog import MemoryPolicy
from reelforge.engine.loader import load_adapter, resolve_weights
from reelforge.engine.memory import (
    device_bytes,
    estimated_device_bytes,
    load_device,
    pipelines,
    placement,
)
from reelforge.engine.tiny_random import builtin_builder

from .conftest import CPU, make_request, no_progress

CUDA = torch.device("cuda")  # a device object only: nothing here allocates on it
OFFLOAD = MemoryPolicy("model_offload", vae_tiling=True)


@pytest.fixture
def tiled(tiny_models_dir, tiny_entry):
    entry = dataclasses.replace(tiny_entry, memory=MemoryPolicy("resident", vae_tiling=True))
    return load_adapter(entry, tiny_models_dir, CPU, torch.float32)


def test_tiling_is_on_for_the_vae_every_ltx_pipeline_shares(tiled, ltx_adapter):
    assert [type(p).__name__ for p in pipelines(tiled)] == ["LTXPipeline", "LTXImageToVideoPipeline",
                                                            "LTXConditionPipeline"]
    assert all(p.vae is tiled.t2v.vae for p in pipelines(tiled))
    assert tiled.t2v.vae.use_tiling
    assert not ltx_adapter.t2v.vae.use_tiling  # the tiny entry's own policy: resident, untiled


def test_tiled_decoding_gives_the_requested_frames(tiled):
    # The default tiles (512 px) are larger than the tiny frames; smaller tiles make the VAE really tile.
    vae = tiled.t2v.vae
    vae.enable_tiling(tile_sample_min_height=64, tile_sample_min_width=64,
                      tile_sample_stride_height=32, tile_sample_stride_width=32)
    tiles = []
    vae.decoder.register_forward_hook(lambda *args: tiles.append(1))
    frames = tiled.generate(make_request(num_frames=9, width=128, height=128, num_inference_steps=2), no_progress)
    assert len(tiles) > 1
    assert frames.shape == (9, 128, 128, 3) and frames.dtype == np.uint8


def test_offload_policies_run_resident_on_a_cpu(tiny_models_dir, tiny_entry, ltx_adapter, caplog):
    for policy in ("model_offload", "sequential_offload"):
        entry = dataclasses.replace(tiny_entry, memory=MemoryPolicy(policy))
        with caplog.at_level(logging.INFO, logger="reelforge.engine"):
            adapter = load_adapter(entry, tiny_models_dir, CPU, torch.float32)
        assert f"memory policy {policy} runs resident on cpu" in caplog.text
        modules = [m for p in pipelines(adapter) for m in p.components.values() if isinstance(m, torch.nn.Module)]
        assert not any(hasattr(m, "_hf_hook") for m in modules)  # no accelerate offload hooks
        assert device_bytes(adapter, CPU) == device_bytes(ltx_adapter, CPU)
        req = make_request(num_frames=9, num_inference_steps=2)
        assert np.array_equal(adapter.generate(req, no_progress), ltx_adapter.generate(req, no_progress))


def test_on_an_accelerator_offloaded_models_load_on_the_host():
    assert placement(OFFLOAD, CUDA) == "model_offload" and load_device(OFFLOAD, CUDA) == torch.device("cpu")
    assert placement(MemoryPolicy("sequential_offload"), torch.device("mps")) == "sequential_offload"
    assert load_device(MemoryPolicy("resident", vae_tiling=True), CUDA) == CUDA
    assert placement(OFFLOAD, CPU) == "resident" and load_device(OFFLOAD, CPU) == CPU


def test_the_estimate_before_loading_matches_the_measurement_after(tiny_models_dir, tiny_entry, ltx_adapter):
    path = resolve_weights(tiny_entry, tiny_models_dir)
    measured = device_bytes(ltx_adapter, CPU)
    assert measured > 0
    assert estimated_device_bytes(path, tiny_entry.memory, CPU, torch.float32) == measured
    # Floating-point weights are counted at the dtype they will be loaded in.
    assert estimated_device_bytes(path, tiny_entry.memory, CPU, torch.bfloat16) == measured // 2
    # Offloaded weights stay in host memory, so they take no device memory between jobs.
    assert estimated_device_bytes(path, OFFLOAD, CUDA, torch.bfloat16) == 0


def test_a_vae_without_tiling_is_left_alone(tmp_path, tiny_entry, caplog):
    # SVD's temporal decoder has no tiled decoding (diffusers raises NotImplementedError).
    builtin_builder("svd-tiny-random")(tmp_path / "svd")
    entry = dataclasses.replace(tiny_entry, id="svd-tiled", family="svd", source=str(tmp_path / "svd"),
                                memory=MemoryPolicy("resident", vae_tiling=True))
    with caplog.at_level(logging.INFO, logger="reelforge.engine"):
        adapter = load_adapter(entry, tmp_path, CPU, torch.float32)
    assert "AutoencoderKLTemporalDecoder has no tiled decoding; vae_tiling is ignored" in caplog.text
    assert not hasattr(adapter.pipe.vae, "use_tiling")
