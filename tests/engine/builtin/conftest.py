import pytest
import torch

from reelforge.engine.builtin import WEIGHTS_DIR
from reelforge.engine.builtin.pipeline import BuiltinVideoPipeline


@pytest.fixture(scope="session")
def shipped_pipe() -> BuiltinVideoPipeline:
    torch.set_num_threads(2)
    pipe = BuiltinVideoPipeline.from_pretrained(WEIGHTS_DIR)
    pipe.set_progress_bar_config(disable=True)
    return pipe
