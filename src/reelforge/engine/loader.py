"""Find a model's weights on disk (building or downloading them if needed) and load its adapter.

This is the one production path from a catalog entry to a loaded pipeline; tests
load the tiny built-in model through it too.

Source forms (``ModelEntry.source``):
  * ``builtin:<name>``  -> the weights shipped inside the package (``reelforge-tiny``), or
                            ``<models_dir>/<name>``, built in code on first use;
  * a local folder       -> absolute, ``~/...``, or relative to ``models_dir``;
  * a hub repo id        -> ``<models_dir>/<org>/<name>`` if someone put a folder there,
                            else the hub cache in ``<models_dir>/hub`` (downloaded unless offline).
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Iterator

import torch

from ..catalog import ModelEntry
from ..errors import ModelUnavailable
from .adapters import adapter_class
from .adapters.base import Adapter
from .builtin import WEIGHTS_DIR
from .memory import apply_memory_policy, load_device
from .tiny_random import BUILTIN_BUILDERS, builtin_builder

BUILTIN_PREFIX = "builtin:"
# ``builtin:<name>`` sources whose weights ship inside the package: loaded in place, never copied.
PACKAGED_WEIGHTS: dict[str, Path] = {"reelforge-tiny": WEIGHTS_DIR}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# from_pretrained starts from this file, so a folder without it is not a pipeline
# (e.g. a half-copied download), whatever else it holds.
_MARKER = "model_index.json"


def _is_pipeline_dir(path: Path) -> bool:
    return (path / _MARKER).is_file()


@contextlib.contextmanager
def _build_lock(lock_path: Path) -> Iterator[None]:
    """An exclusive lock across processes, so two workers never build the same model at once.

    flock is released by the kernel if the holder dies, so a crash leaves no stale lock.
    Where fcntl does not exist (Windows) we go unlocked: builders write to a temp folder
    and rename, so a race costs a duplicate build, never a half model.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _resolve_builtin(entry: ModelEntry, name: str, models_dir: Path) -> Path:
    shipped = PACKAGED_WEIGHTS.get(name)
    if shipped is not None:
        if not _is_pipeline_dir(shipped):
            raise ModelUnavailable(f"model '{entry.id}': the weights shipped with reelforge are missing from {shipped}; reinstall reelforge")
        return shipped
    builder = builtin_builder(name)
    if builder is None:
        raise ModelUnavailable(
            f"model '{entry.id}' names built-in weights '{name}', but this reelforge only builds: "
            f"{', '.join(sorted([*BUILTIN_BUILDERS, *PACKAGED_WEIGHTS]))}"
        )
    path = models_dir / name
    if _is_pipeline_dir(path):
        return path
    with _build_lock(models_dir / f".{name}.lock"):
        if _is_pipeline_dir(path):  # another worker built it while we waited
            return path
        if path.exists():
            # Our builds are atomic, so this is someone else's folder: never overwrite it.
            raise ModelUnavailable(
                f"model '{entry.id}': {path} exists but is not a diffusers folder (no {_MARKER}); "
                f"move it away and reelforge will build the built-in weights there"
            )
        builder(path)
    return path


def _hub_offline() -> bool:
    # huggingface_hub reads HF_HUB_OFFLINE once, at import; reading the environment again
    # honours it even when it was set after something imported huggingface_hub.
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return bool(constants.HF_HUB_OFFLINE) or env.strip().upper() in {"1", "ON", "YES", "TRUE"}


def _resolve_hub(entry: ModelEntry, repo_id: str, models_dir: Path) -> Path:
    from diffusers import DiffusionPipeline

    cache = models_dir / "hub"
    local = models_dir / repo_id
    offline = _hub_offline()
    how = (
        f"Run `reelforge pull {entry.id}` on a machine with hub access (it fills {cache}), "
        f"or put a diffusers folder (with {_MARKER}) at {local}."
    )
    try:
        # DiffusionPipeline.download rather than a bare snapshot_download: it fetches only
        # the files the pipeline loads. Repos like Lightricks/LTX-Video also hold many
        # multi-GB single-file checkpoints at the top level that a full snapshot would pull.
        path = DiffusionPipeline.download(repo_id, cache_dir=cache, local_files_only=offline)
    except Exception as e:  # hub errors come as several unrelated types (HTTP, offline, OS)
        state = "offline (HF_HUB_OFFLINE is set) and it is not cached" if offline else f"download failed: {e}"
        raise ModelUnavailable(
            f"model '{entry.id}': weights for hub repo '{repo_id}' are not available; looked in {local} "
            f"and in the hub cache {cache}; {state}. {how}"
        ) from e
    return Path(path)


def resolve_weights(entry: ModelEntry, models_dir: Path) -> Path:
    """The local diffusers folder holding ``entry``'s weights; raises ``ModelUnavailable`` saying where it looked."""
    models_dir = Path(models_dir).expanduser()
    source = entry.source
    if source.startswith(BUILTIN_PREFIX):
        return _resolve_builtin(entry, source[len(BUILTIN_PREFIX):], models_dir)

    given = Path(source).expanduser()
    path = given if given.is_absolute() else models_dir / given
    if _is_pipeline_dir(path):
        return path
    # Anything that is clearly a path is never sent to the hub.
    is_path = given.is_absolute() or source.startswith((".", "~")) or not _HUB_ID.match(source)
    if not is_path:
        return _resolve_hub(entry, source, models_dir)
    what = "is not a diffusers folder (no model_index.json)" if path.is_dir() else "does not exist"
    raise ModelUnavailable(
        f"model '{entry.id}': weights not found; looked in {path}, which {what}. "
        f"Put a diffusers folder (as written by save_pretrained, with {_MARKER}) at {path}, "
        f"or point the catalog entry's source at a hub repo id and run `reelforge pull {entry.id}`."
    )


def load_adapter(entry: ModelEntry, models_dir: Path, device: torch.device, dtype: torch.dtype) -> Adapter:
    """Resolve ``entry``'s weights and load them with its family's adapter."""
    adapter_class(entry.family)  # an unknown family fails before any build or download
    return load_folder(entry, resolve_weights(entry, models_dir), device, dtype)


def load_folder(entry: ModelEntry, path: Path, device: torch.device, dtype: torch.dtype) -> Adapter:
    """Load the diffusers folder ``path`` with ``entry``'s adapter, under ``entry``'s memory policy."""
    cls = adapter_class(entry.family)
    adapter = cls.load(entry, path, load_device(entry.memory, device), dtype)
    apply_memory_policy(adapter, entry.memory, device, entry.id)
    return adapter
