"""The family registry: family name -> adapter class, imported on first use.

Lazy so a worker serving only LTX never imports (or needs) another family's code.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ...errors import ModelUnavailable

if TYPE_CHECKING:
    from .base import Adapter

# family -> "module:Class" under this package.
ADAPTERS: dict[str, str] = {
    "ltx": "ltx:LTXAdapter",
    "wan": "wan:WanAdapter",
    "cogvideox": "cogvideox:CogVideoXAdapter",
    "hunyuan": "hunyuan:HunyuanAdapter",
    "svd": "svd:SVDAdapter",
    "fast-svd": "fast_svd:FastSVDAdapter",
    "animatediff": "animatediff:AnimateDiffAdapter",
    "tiny": "tiny:TinyAdapter",
}


def adapter_class(family: str) -> "type[Adapter]":
    try:
        target = ADAPTERS[family]
    except KeyError:
        raise ModelUnavailable(
            f"no engine adapter for model family '{family}'; this reelforge supports: {', '.join(sorted(ADAPTERS))}"
        ) from None
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
