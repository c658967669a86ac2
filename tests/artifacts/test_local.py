"""What only the local folder backend does: files on disk, atomic renames, fsync'd temp files.

The behaviour it shares with every backend is in test_store.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reelforge.artifacts import ArtifactMissing, LocalArtifacts, open_artifacts
from reelforge.settings import Settings
from tests.artifacts.conftest import files_under

KEY = "jobs/job_123/a1/video.mp4"


@pytest.fixture
def store(tmp_path) -> LocalArtifacts:
    return LocalArtifacts(tmp_path / "artifacts")


def test_keys_are_files_under_the_root(store):
    store.put_bytes(KEY, b"mp4 bytes")
    assert store.local_path(KEY) == store.root / "jobs" / "job_123" / "a1" / "video.mp4"
    assert store.local_path(KEY).read_bytes() == b"mp4 bytes"
    assert files_under(store.root) == ["jobs/job_123/a1/video.mp4"]
    for missing in ("jobs/other/video.mp4", "jobs/job_123"):
        with pytest.raises(ArtifactMissing):
            store.local_path(missing)


def test_overwrite_is_atomic_replace(store):
    store.put_bytes(KEY, b"first")
    before = os.stat(store.local_path(KEY)).st_ino
    with open(store.local_path(KEY), "rb") as reader:
        store.put_bytes(KEY, b"second version")
        # A reader holding the old file keeps reading the old, complete content:
        # the new file was renamed over the name, not written into the old one.
        assert reader.read() == b"first"
    assert store.get_bytes(KEY) == b"second version"
    assert os.stat(store.local_path(KEY)).st_ino != before
    assert files_under(store.root) == ["jobs/job_123/a1/video.mp4"]


def test_failed_write_leaves_old_content_and_no_temp(store):
    store.put_bytes(KEY, b"old")
    with pytest.raises(TypeError):
        store.put_bytes(KEY, 12345)  # type: ignore[arg-type]  (fails inside the temp write)
    assert store.get_bytes(KEY) == b"old"
    assert files_under(store.root) == ["jobs/job_123/a1/video.mp4"]


def test_put_file_makes_a_readable_file(store, tmp_path):
    source = tmp_path / "scratch.mp4"
    source.write_bytes(b"encoded video")
    store.put_file(KEY, source)
    assert oct(os.stat(store.local_path(KEY)).st_mode & 0o777) == oct(0o644)


def test_put_file_across_filesystems_copies_then_removes_the_source(store):
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(store.root).st_dev:
        pytest.skip("needs /dev/shm on another filesystem than the store")
    source = shm / f"reelforge-test-{os.getpid()}.mp4"
    source.write_bytes(b"from tmpfs" * 1000)
    try:
        store.put_file(KEY, source)
    finally:
        leftover = source.exists()
        source.unlink(missing_ok=True)
    assert not leftover
    assert store.get_bytes(KEY) == b"from tmpfs" * 1000
    assert files_under(store.root) == ["jobs/job_123/a1/video.mp4"]


def test_iter_range_keeps_reading_the_version_it_opened(store):
    store.put_bytes(KEY, b"A" * 1000)
    chunks = store.iter_range(KEY, 0, 999, chunk=100)
    first = next(chunks)
    store.put_bytes(KEY, b"B" * 10)
    assert first + b"".join(chunks) == b"A" * 1000


def test_delete_prefix_keeps_the_root(store):
    store.put_bytes("jobs/abc/a1/video.mp4", b"1")
    assert store.delete_prefix("jobs") == 1
    assert store.root.is_dir() and files_under(store.root) == []


def test_open_artifacts(tmp_path):
    store = open_artifacts(str(tmp_path / "a" / "b"))
    assert isinstance(store, LocalArtifacts) and (tmp_path / "a" / "b").is_dir()
    store.put_bytes(KEY, b"x")
    assert open_artifacts(tmp_path / "a" / "b").get_bytes(KEY) == b"x"
    with pytest.raises(ValueError, match="unknown scheme"):
        open_artifacts("gs://bucket")
    with pytest.raises(ValueError):
        open_artifacts("")


def test_open_artifacts_from_settings_is_the_configured_folder(tmp_path):
    default = open_artifacts(Settings(overrides={"data_dir": str(tmp_path)}, environ={}))
    assert isinstance(default, LocalArtifacts) and default.root == tmp_path / "artifacts"
    chosen = open_artifacts(Settings(overrides={"data_dir": str(tmp_path), "artifacts": str(tmp_path / "elsewhere")},
                                     environ={}))
    assert isinstance(chosen, LocalArtifacts) and chosen.root == tmp_path / "elsewhere"
