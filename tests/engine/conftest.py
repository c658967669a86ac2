"""Engine fixtures: the tiny random-weight LTX pipeline, built in code once per session.

Tests load it through the production loader (``load_adapter``), exactly as a worker
loads real weights from its models folder.
"""


import pytest
import torch

from reelforge.catalog import Catalog, ModelEntry
from reelforge.engine.adapters.base import GenerateRequest
from reelforge.engine.loader import load_adapter

CPU = torch.device("cpu")


@pytest.fixture(scope="session")
def tiny_entry() -> ModelEntry:
    return Catalog().resolve("ltx-tiny-random")


@pytest.fixture(scope="session")
def ltx_adapter(tiny_models_dir, tiny_entry):
    return load_adapter(tiny_entry, tiny_models_dir, CPU, torch.float32)


def make_request(**changes) -> GenerateRequest:
    """The default tiny request: 33 frames at 128x64 (native), 8 steps."""
    values = dict(
        prompt="a cat walking on the street at night", negative_prompt="blurry", seed=0,
        num_inference_steps=8, guidance_scale=3.0, num_frames=33, width=128, height=64, fps=8,
    )
    values.update(changes)
    return GenerateRequest(**values)


def no_progress(done: int, total: int) -> None:
    pass


BATCH_PROMPTS = ("a red circle moving right", "a blue square moving up", "a green star")


def assert_batched_as_alone(adapter, reqs: list[GenerateRequest], *, apart_below: float = 30.0) -> None:
    """Seed stability of batching on the raw frames (before any encode): each sample of one batched
    call is its request run alone, within 40 dB, and two samples are further apart than that."""
    from reelforge.engine.bench import psnr

    batched = adapter.generate_batch(reqs, no_progress)
    for req, frames in zip(reqs, batched, strict=True):
        assert psnr(frames, adapter.generate(req, no_progress)) >= 40
    assert psnr(batched[0], batched[1]) < apart_below
