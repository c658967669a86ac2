"""Which model actually serves a request that names a vendor's model.

Vendor names (``fast-svd``, ``svd``, ``veo-3-fast``, ``pixverse/v5/text-to-video``, an SD checkpoint
file) resolve through catalog aliases to real model families. Until someone installs that model's
weights, a request for it runs on the catalog's default (built-in) model instead, so every vendor's
documented example works on a fresh machine; the job records the model that really ran.
Torch-free: it only looks at files.
"""

from __future__ import annotations

from pathlib import Path

from ..catalog import Catalog, ModelEntry

_MARKER = "model_index.json"


def weights_present(entry: ModelEntry, models_dir: Path) -> bool:
    """Whether ``entry``'s weights are on this machine (where ``engine.loader`` would look)."""
    source = entry.source
    if source.startswith("builtin:"):
        return True  # built in code on first use
    path = Path(source).expanduser()
    if path.is_absolute():
        return path.is_file() or (path / _MARKER).is_file()
    local = Path(models_dir) / source
    if local.is_file() or (local / _MARKER).is_file():
        return True
    snapshots = Path(models_dir) / "hub" / ("models--" + source.replace("/", "--")) / "snapshots"
    return snapshots.is_dir() and any((d / _MARKER).is_file() for d in snapshots.iterdir())


def servable(catalog: Catalog, name: str | None, models_dir: Path, *, param: str = "model",
             keyframes: bool = False) -> ModelEntry:
    """The entry ``name`` resolves to, or the default model while that entry's weights are absent.
    Unknown names raise ModelNotFound, listing the names that exist.

    ``keyframes``: the request has a last frame. If the default model cannot take one (the built-in
    model continues a first frame only), the stand-in is the first installed model that can, so a
    vendor's first+last-frame example still runs on a fresh machine (on a random-weight model)."""
    entry = catalog.resolve(name, param=param)
    if weights_present(entry, models_dir):
        return entry
    default = catalog.resolve(None)
    if keyframes and not default.keyframes:
        return next((e for e in catalog if e.keyframes and weights_present(e, models_dir)), default)
    return default
