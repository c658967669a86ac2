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
