"""Find a model's weights (building or downloading them if needed) and load its adapter.

This is the one production path from a catalog entry to a loaded pipeline; tests
load the tiny built-in model through it too.

Where weights live is ``catalog.weights``' rule, which the service shares; this module adds
only what needs torch or the network: building ``builtin:<name>`` weights in code on first use,
and downloading a hub repo into ``<models_dir>/hub`` (unless offline). Weights already here are
loaded without contacting the hub; ``reelforge pull`` (``pull``) refreshes a hub download.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

import torch

from ..catalog import ModelEntry
from ..catalog.weights import BUILTIN_PREFIX, HUB_CACHE, Location, is_pipeline_dir, locate
from ..errors import ModelUnavailable
from .adapters import adapter_class
from .adapters.base import Adapter
from .memory import apply_memory_policy, load_device
from .tiny_random import builtin_builder


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


def _build(entry: ModelEntry, path: Path) -> Path:
    """Build the ``builtin:<name>`` weights at ``path`` (``locate`` said they can be built there)."""
    with _build_lock(path.parent / f".{path.name}.lock"):
        if is_pipeline_dir(path):  # another worker built it while we waited
            return path
        if path.exists():
            # Our builds are atomic, so this is someone else's folder: never overwrite it.
            raise ModelUnavailable(locate(entry, path.parent).message)
        builtin_builder(entry.source[len(BUILTIN_PREFIX):])(path)
    return path


def _hub_offline() -> bool:
    # huggingface_hub reads HF_HUB_OFFLINE once, at import; reading the environment again
    # honours it even when it was set after something imported huggingface_hub.
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return bool(constants.HF_HUB_OFFLINE) or env.strip().upper() in {"1", "ON", "YES", "TRUE"}


def _download(entry: ModelEntry, where: Location, models_dir: Path) -> Path:
    """Fetch hub repo ``entry.source`` into the hub cache; ``where`` is what ``locate`` found before."""
    from diffusers import DiffusionPipeline

    offline = _hub_offline()
    if offline and where.installed:
        return where.path
    try:
        # DiffusionPipeline.download rather than a bare snapshot_download: it fetches only
        # the files the pipeline loads. Repos like Lightricks/LTX-Video also hold many
        # multi-GB single-file checkpoints at the top level that a full snapshot would pull.
        path = DiffusionPipeline.download(entry.source, cache_dir=models_dir / HUB_CACHE, local_files_only=offline)
    except Exception as e:  # hub errors come as several unrelated types (HTTP, offline, OS)
        state = "offline (HF_HUB_OFFLINE is set) and it is not cached" if offline else f"download failed: {e}"
        raise ModelUnavailable(f"model '{entry.id}': {where.looked}; {state}. {where.hint}") from e
    return Path(path)


def resolve_weights(entry: ModelEntry, models_dir: Path) -> Path:
    """The local diffusers folder holding ``entry``'s weights; raises ``ModelUnavailable`` saying where it looked."""
    models_dir = Path(models_dir).expanduser()
    where = locate(entry, models_dir)
    if where.installed and where.kind == "builtin" and not is_pipeline_dir(where.path):
        return _build(entry, where.path)
    if where.installed:
        return where.path
    if where.kind == "hub":
        return _download(entry, where, models_dir)
    raise ModelUnavailable(where.message)


def pull(entry: ModelEntry, models_dir: Path) -> Path:
    """``reelforge pull``: like ``resolve_weights``, but a hub repo is always fetched, so a download
    that is here already gets the repo's newest files."""
    models_dir = Path(models_dir).expanduser()
    where = locate(entry, models_dir)
    if where.kind == "hub":
        return _download(entry, where, models_dir)
    return resolve_weights(entry, models_dir)


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
