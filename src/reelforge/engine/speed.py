"""Speed tiers: diffusers' own optimisations, applied around one generation.

* ``exact``: nothing a user could see changes: plain diffusers, bit for bit on a CPU. The lossless
  CUDA speed-ups diffusers has (``compile_repeated_blocks``, ``set_attention_backend("flash")``) are not
  applied yet: a compile that fails does so at the first forward, which would fail a user's job, and
  no GPU was at hand to prove either on every family. On a CPU neither pays (compiling costs minutes
  and needs a C toolchain; SDPA is already the CPU's fastest attention).
* ``fast``: First Block Cache (``FirstBlockCacheConfig``, ``enable_cache``) on every transformer the
  adapter's pipelines share: a step whose first block's residual changed by less than the threshold
  reuses the rest of the network's last residual. It is lossy by design; how much it saves depends on
  the model and the step count (more steps, more near-identical neighbours).

Adapters hold resident pipelines that serve many jobs, so a tier is applied for one call and taken
off afterwards: a fast job never leaves its cache hooks on the next exact job.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Iterator

import torch

from ..catalog.entry import CACHE_FAMILIES, SPEEDS
from ..errors import GenerationFailed

if TYPE_CHECKING:
    from ..catalog import ModelEntry
    from .adapters.base import Adapter

# The residual change (mean absolute difference, relative) below which a step reuses the cache.
# diffusers' default is 0.05; ParaAttention, where the method comes from, suggests 0.05-0.1 for video
# DiTs. A catalog entry may set its own in extra["fast_cache_threshold"].
FAST_CACHE_THRESHOLD = 0.1


def transformers_of(adapter: "Adapter") -> list[torch.nn.Module]:
    """The distinct transformer modules of an adapter's pipelines (Wan 2.2 has two experts)."""
    found: list[torch.nn.Module] = []
    for value in vars(adapter).values():
        components = getattr(value, "components", None)
        if not isinstance(components, dict):
            continue
        for name, module in components.items():
            if name.startswith("transformer") and isinstance(module, torch.nn.Module) and \
                    all(module is not m for m in found):
                found.append(module)
    return found


def threshold_for(entry: "ModelEntry") -> float:
    return float(entry.extra.get("fast_cache_threshold", FAST_CACHE_THRESHOLD))


@contextlib.contextmanager
def applied(adapter: "Adapter", speed: str, device: torch.device, *,
            threshold: float = FAST_CACHE_THRESHOLD) -> Iterator[dict[str, Any]]:
    """Run the block at ``speed`` on ``device``; yields what was applied (for logs and the bench).
    Nothing here depends on the device yet; it is taken so that the CUDA-only lossless settings can
    join the exact tier without every caller changing."""
    if speed not in SPEEDS:
        raise GenerationFailed(f"unknown speed tier {speed!r}; allowed: {', '.join(SPEEDS)}")
    family = getattr(adapter, "family", "?")
    modules = transformers_of(adapter)
    done: dict[str, Any] = {"speed": speed}
    if speed == "exact":
        yield done
        return
    if family not in CACHE_FAMILIES or not modules or not all(hasattr(m, "enable_cache") for m in modules):
        # The API refuses this before it is queued (catalog.ModelEntry.speeds); reaching here is a bug.
        raise GenerationFailed(f"family {family} has no fast tier (its denoiser is not a diffusers transformer)")
    from diffusers import FirstBlockCacheConfig

    for module in modules:
        module.enable_cache(FirstBlockCacheConfig(threshold=threshold))
    done["cache"] = f"FirstBlockCache(threshold={threshold:g})"
    try:
        yield done
    finally:
        for module in modules:
            module.disable_cache()
