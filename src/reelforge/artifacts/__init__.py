"""Artifact storage: job outputs (video, thumbnail, spritesheet) and input images.

``open_artifacts`` turns the configured location into a store: a local folder,
or ``s3://bucket/prefix`` for an S3-compatible bucket. Both implement ``ArtifactStore``.
"""

from __future__ import annotations

import re
from pathlib import Path

from reelforge.artifacts.base import (
    ArtifactChanged,
    ArtifactMissing,
    ArtifactStore,
    ArtifactStoreUnavailable,
    validate_key,
)
from reelforge.artifacts.local import LocalArtifacts
from reelforge.settings import Settings

__all__ = ["ArtifactChanged", "ArtifactMissing", "ArtifactStore", "ArtifactStoreUnavailable", "LocalArtifacts",
           "open_artifacts", "validate_key"]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def open_artifacts(location: Settings | str | Path) -> ArtifactStore:
    """The store at ``location``: a local folder path (created if missing) or ``s3://bucket/prefix``.

    Given ``Settings``, the location is ARTIFACTS (or DATA_DIR/artifacts) and an S3
    bucket is reached with the S3_* settings; given a bare ``s3://`` location, with
    boto3's defaults. Other URL schemes raise ValueError rather than being mistaken
    for a relative folder named "gs:".
    """
    settings = location if isinstance(location, Settings) else None
    if settings is not None:
        location = settings.artifacts_location
    if isinstance(location, str):
        match = _SCHEME.match(location)
        if match:
            scheme = match.group(1).lower()
            if scheme == "s3":
                # Imported here so that only an S3 configuration pays for loading boto3.
                from reelforge.artifacts.s3 import S3Artifacts, parse_location

                bucket, prefix = parse_location(location)
                if settings is None:
                    return S3Artifacts(bucket, prefix)
                return S3Artifacts(bucket, prefix, endpoint_url=settings.s3_endpoint_url, region=settings.s3_region,
                                   access_key_id=settings.s3_access_key_id,
                                   secret_access_key=settings.s3_secret_access_key)
            raise ValueError(
                f"artifact location {location!r}: unknown scheme '{scheme}://'; "
                "use a local folder path or s3://BUCKET/PREFIX."
            )
        if not location.strip():
            raise ValueError("artifact location is empty; use a local folder path or s3://BUCKET/PREFIX.")
    return LocalArtifacts(Path(location))
