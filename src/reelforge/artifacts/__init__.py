"""Artifact storage: job outputs (video, thumbnail, spritesheet) and input images.

``open_artifacts`` turns the configured location into a store. Only local
folders exist so far; S3 will implement the same ``ArtifactStore`` interface.
"""

from __future__ import annotations

import re
from pathlib import Path

from reelforge.artifacts.base import ArtifactMissing, ArtifactStore, validate_key
from reelforge.artifacts.local import LocalArtifacts

__all__ = ["ArtifactMissing", "ArtifactStore", "LocalArtifacts", "open_artifacts", "validate_key"]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def open_artifacts(location: str | Path) -> ArtifactStore:
    """The store at ``location``: a local folder path (created if missing).

    ``s3://bucket/prefix`` and other URL schemes raise ValueError for now,
    rather than being mistaken for a relative folder named "s3:".
    """
    if isinstance(location, str):
        match = _SCHEME.match(location)
        if match:
            scheme = match.group(1).lower()
            if scheme == "s3":
                raise ValueError(
                    f"artifact location {location!r}: S3 storage is not supported yet; "
                    "use a local folder path."
                )
            raise ValueError(
                f"artifact location {location!r}: unknown scheme '{scheme}://'; use a local folder path."
            )
        if not location.strip():
            raise ValueError("artifact location is empty; use a local folder path.")
    return LocalArtifacts(Path(location))
