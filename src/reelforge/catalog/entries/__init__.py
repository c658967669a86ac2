"""The built-in catalog entries, one file per family, in the order the catalog lists them.

The published checkpoints' numbers are their published facts (diffusers pipeline defaults and
docstrings, model cards); where a model card and diffusers disagree, diffusers wins, because
diffusers is what runs them. Their weights are fetched lazily from the hub by repo id, or ahead
of time with `reelforge pull`.
"""

from __future__ import annotations

from ..entry import ModelEntry
from .animatediff import ANIMATEDIFF
from .builtin import LTX_TINY_RANDOM, REELFORGE_TINY
from .cogvideox import COGVIDEOX
from .hunyuan import HUNYUAN
from .ltx import LTX
from .svd import SVD
from .wan import WAN

# The first entry is the catalog's default model.
BUILTIN: tuple[ModelEntry, ...] = ((REELFORGE_TINY, LTX_TINY_RANDOM)
                                   + LTX + WAN + COGVIDEOX + HUNYUAN + ANIMATEDIFF + SVD)
