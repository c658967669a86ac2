"""Every artifact backend behind one ``store`` fixture, so the behaviour suite (test_store.py) runs on each."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from reelforge.artifacts import ArtifactStore, LocalArtifacts
from reelforge.artifacts.s3 import S3Artifacts

BUCKET = "artifacts-tests"


@pytest.fixture(scope="session")
def s3_bucket(s3_server) -> str:
    return s3_server.create_bucket(BUCKET)


def s3_store(s3_server, bucket: str, prefix: str) -> S3Artifacts:
    return S3Artifacts(bucket, prefix, endpoint_url=s3_server.endpoint, access_key_id=s3_server.access_key,
                       secret_access_key=s3_server.secret_key)


@pytest.fixture
def s3(s3_server, s3_bucket) -> S3Artifacts:
    """An S3 store under a prefix of its own in the session's bucket."""
    return s3_store(s3_server, s3_bucket, f"t-{uuid.uuid4().hex[:10]}/artifacts")


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def objects_under(s3_server, store: S3Artifacts) -> list[str]:
    """Every object under the store's prefix, as keys of the store."""
    pages = s3_server.client().get_paginator("list_objects_v2").paginate(Bucket=store.bucket, Prefix=store.prefix)
    return sorted(item["Key"][len(store.prefix):] for page in pages for item in page.get("Contents", []))


@pytest.fixture(params=["local", "s3"])
def backend(request, tmp_path) -> tuple[ArtifactStore, Callable[[], list[str]]]:
    """A fresh store and a function listing what it holds: files (temp files too) or objects."""
    if request.param == "local":
        store = LocalArtifacts(tmp_path / "artifacts")
        return store, lambda: files_under(store.root)
    server = request.getfixturevalue("s3_server")
    store = request.getfixturevalue("s3")
    return store, lambda: objects_under(server, store)


@pytest.fixture
def store(backend) -> ArtifactStore:
    return backend[0]


@pytest.fixture
def stored(backend) -> Callable[[], list[str]]:
    return backend[1]
