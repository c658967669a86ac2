"""Derived artifacts (the GIF): made from a stored artifact once, outside request threads, one at a time.

Deriving decodes a whole video, the most memory-hungry thing the API process does, so:
- one process-wide thread makes them all: at most one derivation is in memory at a time (media.gif
  states what one holds: about 100 MB for the largest legal job);
- requests for an artifact that is being made wait for that one result instead of starting their own;
- the result is stored (beside the mp4) and later requests are served from the store;
- at most MAX_PENDING different artifacts wait to be made; a request beyond that gets Unavailable (503,
  which SDKs retry) instead of holding a request thread for minutes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from ..artifacts.base import ArtifactStore
from ..errors import Conflict, Unavailable
from ..heap import release_free_memory

MAX_PENDING = 8

_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reelforge-derive")
_lock = threading.Lock()
_pending: dict[str, Future] = {}


def ensure_derived(artifacts: ArtifactStore, key: str, source_key: str, make: Callable[[bytes | Path], bytes],
                   *, what: str) -> None:
    """Make sure ``key`` holds ``make(source)``, where source is the artifact ``source_key`` (its local file
    where the backend has one, else its bytes). ``make`` raises ValueError when the source cannot be
    converted; that becomes a Conflict naming ``what`` (e.g. "Video 'video_x' has no gif")."""
    if artifacts.exists(key):
        return
    with _lock:
        future = _pending.get(key)
        if future is None:
            if len(_pending) >= MAX_PENDING:
                raise Unavailable(f"{what} yet and {len(_pending)} others are being made first; retry in a minute.")
            future = _pending[key] = _executor.submit(_derive, artifacts, key, source_key, make)
    try:
        future.result()
    except ValueError as exc:
        raise Conflict(f"{what}: its video could not be converted ({exc}).", param="variant",
                       code="variant_unavailable") from None


def _derive(artifacts: ArtifactStore, key: str, source_key: str, make: Callable[[bytes | Path], bytes]) -> None:
    try:
        # A request that checked just before the last derivation of this key finished lands here.
        if not artifacts.exists(key):
            path = artifacts.local_path(source_key)
            artifacts.put_bytes(key, make(path if path is not None else artifacts.get_bytes(source_key)))
    finally:
        with _lock:
            del _pending[key]
        release_free_memory()
