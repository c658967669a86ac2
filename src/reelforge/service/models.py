"""The catalog as this machine has it: installed weights, the model that serves a request, LoRAs.

Where weights and LoRAs live is ``catalog.weights``' rule (the engine loads from the same places).

Vendor names (``fast-svd``, ``svd``, ``veo-3-fast``, ``pixverse/v5/text-to-video``, an SD checkpoint
file) resolve through catalog aliases to real model families. Until someone installs that model's
weights, the ``substitute_models`` policy decides: a disclosed stand-in runs (the default, so every
vendor's documented example works on a fresh machine), or the request is refused at submission.
A LoRA a request names must be a file here, or the request is refused at submission.
Torch-free: it only looks at files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..catalog import Catalog, ModelEntry
from ..catalog.weights import Location, find_lora, locate, lora_not_found
from ..errors import InvalidRequest
from ..jobs import Adjustment, Task
from .pricing import credits_per_second
from .specs import can


@dataclass(frozen=True)
class Installed:
    """A catalog model as this machine has it: where its weights are, and what it costs."""

    entry: ModelEntry
    weights: Location
    # size -> credits for one second of video at the model's native fps (service.pricing).
    credits_per_second: dict[str, float]


def installed(entry: ModelEntry, models_dir: Path) -> Installed:
    return Installed(entry, locate(entry, models_dir), {s: credits_per_second(entry, s) for s in entry.sizes})


def serving(catalog: Catalog, name: str | None, models_dir: Path, *, policy: str, param: str = "model",
            asked: object = None, image: bool = False, keyframes: bool = False,
            task: Task | None = None) -> tuple[ModelEntry, Adjustment | None]:
    """The model that will run a request for ``name``, and the adjustment that says so when it is a
    stand-in. Unknown names raise ModelNotFound, listing the names that exist.

    While the named model's weights are absent, ``policy`` decides (the ``substitute_models`` setting):
    ``off`` refuses the request here, naming where reelforge looked and how to install the weights;
    ``builtin`` runs the catalog's default model instead or, when that one cannot take the request's
    frames (``image``: a first frame, ``keyframes``: a last one too) or run its ``task`` (an edit or an
    extension), the first installed model that can,
    so a vendor's documented example still runs on a fresh machine."""
    entry = catalog.resolve(name, param=param)
    where = locate(entry, models_dir)
    if where.installed:
        return entry, None
    if policy == "off":
        raise InvalidRequest(f"Model '{entry.id}' is not installed here, and model substitution is off: "
                             f"{where.message}", param=param, code="model_not_installed")

    def fits(e: ModelEntry) -> bool:
        return (not image or Task.I2V in e.tasks) and (not keyframes or e.keyframes) and (task is None or can(e, task))

    default = catalog.resolve(None)
    stand_in = default if fits(default) else next(
        (e for e in catalog if fits(e) and locate(e, models_dir).installed), default)
    reason = (f"the weights of '{entry.id}' are not installed here ({where.looked}), so the stand-in "
              f"'{stand_in.id}' ran instead (substitute_models = builtin). {where.hint}").strip()
    return stand_in, Adjustment(param, name if asked is None else asked, stand_in.id, reason)


def check_loras(loras: tuple[tuple[str, float], ...], models_dir: Path) -> None:
    """Every LoRA a job names must exist here, or the job is refused before it is queued."""
    for i, (name, _) in enumerate(loras):
        if find_lora(name, models_dir) is None:
            raise InvalidRequest(lora_not_found(name, models_dir), param=f"loras[{i}]")
