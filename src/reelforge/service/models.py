"""The catalog as this machine has it: installed weights, the model that serves a request, LoRAs.

Where weights and LoRAs live is ``catalog.weights``' rule (the engine loads from the same places).

Vendor names (``fast-svd``, ``svd``, ``veo-3-fast``, ``pixverse/v5/text-to-video``, an SD checkpoint
file) resolve through catalog aliases to real model families. Until someone installs that model's
weights, a request for it runs on the catalog's default (built-in) model instead, so every vendor's
documented example works on a fresh machine; the job records the model that really ran.
A LoRA a request names must be a file here, or the request is refused at submission.
Torch-free: it only looks at files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..catalog import Catalog, ModelEntry
from ..catalog.weights import Location, find_lora, locate, lora_not_found
from ..errors import InvalidRequest
from .pricing import credits_per_second


@dataclass(frozen=True)
class Installed:
    """A catalog model as this machine has it: where its weights are, and what it costs."""

    entry: ModelEntry
    weights: Location
    # size -> credits for one second of video at the model's native fps (service.pricing).
    credits_per_second: dict[str, float]


def installed(entry: ModelEntry, models_dir: Path) -> Installed:
    return Installed(entry, locate(entry, models_dir), {s: credits_per_second(entry, s) for s in entry.sizes})


def servable(catalog: Catalog, name: str | None, models_dir: Path, *, param: str = "model",
             keyframes: bool = False) -> ModelEntry:
    """The entry ``name`` resolves to, or the default model while that entry's weights are absent.
    Unknown names raise ModelNotFound, listing the names that exist.

    ``keyframes``: the request has a last frame. If the default model cannot take one (the built-in
    model continues a first frame only), the stand-in is the first installed model that can, so a
    vendor's first+last-frame example still runs on a fresh machine (on a random-weight model)."""
    entry = catalog.resolve(name, param=param)
    if locate(entry, models_dir).installed:
        return entry
    default = catalog.resolve(None)
    if keyframes and not default.keyframes:
        return next((e for e in catalog if e.keyframes and locate(e, models_dir).installed), default)
    return default


def check_loras(loras: tuple[tuple[str, float], ...], models_dir: Path) -> None:
    """Every LoRA a job names must exist here, or the job is refused before it is queued."""
    for i, (name, _) in enumerate(loras):
        if find_lora(name, models_dir) is None:
            raise InvalidRequest(lora_not_found(name, models_dir), param=f"loras[{i}]")
