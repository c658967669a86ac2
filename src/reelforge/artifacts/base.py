"""The artifact store interface: where job outputs and input images live.

Keys are slash-separated relative names such as ``jobs/<job_id>/a1/video.mp4``.
They are validated strictly (``validate_key``) because parts of them come from
ids and file names that end up as paths on disk for the local backend.

Every backend (a local folder, an S3 bucket) has the same semantics:

- A missing key raises ``ArtifactMissing``, a ``KeyError``.
- An invalid key or prefix raises ``ValueError``.
- Writes are all-or-nothing: a reader sees the old object, the new one or none.
- Ranges are inclusive, like HTTP ``Range: bytes=start-end``.
- A streamed range (``iter_range``) never splices two versions of an object: the
  local folder keeps streaming the version it opened; S3 raises ``ArtifactChanged``.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path

# Segments may not start with "." so that ".", "..", hidden files and the
# local backend's ".<name>.<random>.tmp" files can never be addressed as keys.
_SEGMENT = r"[A-Za-z0-9_-][A-Za-z0-9._-]*"
_KEY = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*")
MAX_KEY_LENGTH = 1024  # S3's limit, so keys stay portable between backends


class ArtifactMissing(KeyError):
    """No artifact is stored under this key."""

    def __init__(self, key: str):
        super().__init__(key)
        self.key = key

    def __str__(self) -> str:
        return f"no artifact stored under '{self.key}'"


class ArtifactChanged(RuntimeError):
    """The object was replaced while a streamed range was being read from it."""

    def __init__(self, key: str):
        super().__init__(f"artifact '{key}' was replaced while it was being read")
        self.key = key


class ArtifactStoreUnavailable(RuntimeError):
    """The configured store cannot be used: its bucket is missing, access is denied, or it is unreachable."""


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe relative key, else raise ValueError.

    Allowed: segments of ``[A-Za-z0-9._-]`` joined by single slashes, no segment
    starting with ".", no leading or trailing slash, at most 1024 characters.
    """
    if not isinstance(key, str) or len(key) > MAX_KEY_LENGTH or not _KEY.fullmatch(key):
        raise ValueError(
            f"invalid artifact key {key!r}: use segments of A-Z a-z 0-9 . _ - joined by '/', "
            "not starting with '.' or '/'"
        )
    return key


def validate_prefix(prefix: str) -> str:
    """Normalise a folder prefix to ``a/b/`` form; the empty prefix is refused (it would mean everything)."""
    if not isinstance(prefix, str):
        raise ValueError(f"invalid artifact prefix {prefix!r}")
    return validate_key(prefix[:-1] if prefix.endswith("/") else prefix) + "/"


def check_order(key: str, start: int, end_inclusive: int) -> None:
    """The part of ``check_range`` that needs no size: a negative or inverted range raises ValueError."""
    if start < 0 or end_inclusive < start:
        raise ValueError(f"invalid range {start}-{end_inclusive} for '{key}'")


def check_range(key: str, size: int, start: int, end_inclusive: int) -> int:
    """Validate an inclusive byte range against ``size``; return the end clamped to the last byte.

    As in HTTP, an end past the object is clamped; a start at or past the end
    of the object (or a negative or inverted range) raises ValueError.
    """
    check_order(key, start, end_inclusive)
    if start >= size:
        raise ValueError(f"range start {start} is past the end of '{key}' ({size} bytes)")
    return min(end_inclusive, size - 1)


class ArtifactStore(ABC):
    """Abstract artifact storage. See the module docstring for the shared semantics."""

    @abstractmethod
    def put_bytes(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, replacing any previous object atomically."""

    @abstractmethod
    def put_file(self, key: str, path: Path) -> None:
        """Move the finished local file ``path`` into the store under ``key``.

        The store takes the file: ``path`` no longer exists afterwards.
        """

    @abstractmethod
    def get_bytes(self, key: str) -> bytes:
        """The whole object."""

    @abstractmethod
    def size(self, key: str) -> int:
        """The object's length in bytes."""

    @abstractmethod
    def read_range(self, key: str, start: int, end_inclusive: int) -> bytes:
        """Bytes ``start`` to ``end_inclusive`` (clamped to the object; see ``check_range``)."""

    @abstractmethod
    def iter_range(
        self, key: str, start: int, end_inclusive: int, chunk: int = 256 * 1024
    ) -> Iterator[bytes]:
        """Like ``read_range`` but yields chunks of at most ``chunk`` bytes.

        The key and range are checked when this is called, not on the first
        ``next()``, so an HTTP layer can answer 404/416 before it starts a response.
        """

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""

    @abstractmethod
    def delete(self, key: str) -> bool:
        """Delete one object; False when there was none."""

    @abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with the folder ``prefix`` and return how many.

        ``"jobs/abc"`` and ``"jobs/abc/"`` both mean the folder ``jobs/abc/``:
        ``jobs/abcd/...`` is not touched. Deleting an empty folder returns 0.
        """

    @abstractmethod
    def local_path(self, key: str) -> Path | None:
        """The object's file on this machine, for efficient file responses; None where there is none (S3).

        Raises ArtifactMissing when a backend with local files does not have the key.
        """
