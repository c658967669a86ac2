from __future__ import annotations

import os
from pathlib import Path

import pytest

from reelforge.artifacts import ArtifactMissing, LocalArtifacts, open_artifacts

KEY = "jobs/job_123/a1/video.mp4"


@pytest.fixture
def store(tmp_path) -> LocalArtifacts:
    return LocalArtifacts(tmp_path / "artifacts")


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_put_get_roundtrip_creates_folders(store):
    store.put_bytes(KEY, b"mp4 bytes")
    assert store.get_bytes(KEY) == b"mp4 bytes"
    assert store.size(KEY) == 9
    assert store.exists(KEY)
    assert store.local_path(KEY) == store.root / "jobs" / "job_123" / "a1" / "video.mp4"
    assert store.local_path(KEY).read_bytes() == b"mp4 bytes"
    assert files_under(store.root) == ["jobs/job_123/a1/video.mp4"]


def test_overwrite_is_atomic_replace_and_leaves_no_temp_files(store):
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


def test_put_file_moves_the_file_in(store, tmp_path):
    source = tmp_path / "scratch.mp4"
    source.write_bytes(b"encoded video")
    store.put_file(KEY, source)
    assert not source.exists()
    assert store.get_bytes(KEY) == b"encoded video"
    assert oct(os.stat(store.local_path(KEY)).st_mode & 0o777) == oct(0o644)
    with pytest.raises(FileNotFoundError):
        store.put_file(KEY, tmp_path / "nope.mp4")


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


def test_missing_keys_raise_artifact_missing_a_key_error(store):
    store.put_bytes(KEY, b"x")
    for call in (
        lambda: store.get_bytes("jobs/other/video.mp4"),
        lambda: store.size("jobs/other/video.mp4"),
        lambda: store.read_range("jobs/other/video.mp4", 0, 1),
        lambda: store.iter_range("jobs/other/video.mp4", 0, 1),
        lambda: store.local_path("jobs/other/video.mp4"),
        lambda: store.get_bytes("jobs/job_123"),  # a folder is not an artifact
        lambda: store.get_bytes("jobs/job_123/a1/video.mp4/deeper"),
    ):
        with pytest.raises(KeyError) as info:
            call()
        assert isinstance(info.value, ArtifactMissing)
    assert not store.exists("jobs/other/video.mp4")
    assert not store.exists("jobs/job_123")


def test_read_range_is_inclusive_and_clamped(store):
    data = bytes(range(256)) * 4
    store.put_bytes(KEY, data)
    assert store.read_range(KEY, 0, 0) == data[:1]
    assert store.read_range(KEY, 10, 19) == data[10:20]
    assert store.read_range(KEY, 1000, 5000) == data[1000:]  # end clamped like HTTP
    for start, end in [(1024, 1030), (-1, 5), (10, 9)]:
        with pytest.raises(ValueError):
            store.read_range(KEY, start, end)


def test_iter_range_chunks_and_checks_eagerly(store):
    data = os.urandom(10_000)
    store.put_bytes(KEY, data)
    chunks = list(store.iter_range(KEY, 100, 8_099, chunk=1000))
    assert [len(c) for c in chunks] == [1000] * 8
    assert b"".join(chunks) == data[100:8100]
    assert b"".join(store.iter_range(KEY, 0, 10**9)) == data
    # Errors come at call time, before any iteration.
    with pytest.raises(ValueError):
        store.iter_range(KEY, 10_000, 10_001)
    with pytest.raises(ArtifactMissing):
        store.iter_range("jobs/nope/video.mp4", 0, 1)


def test_iter_range_keeps_reading_the_version_it_opened(store):
    store.put_bytes(KEY, b"A" * 1000)
    chunks = store.iter_range(KEY, 0, 999, chunk=100)
    first = next(chunks)
    store.put_bytes(KEY, b"B" * 10)
    assert first + b"".join(chunks) == b"A" * 1000


@pytest.mark.parametrize(
    "key",
    [
        "../etc/passwd",
        "jobs/../../etc/passwd",
        "jobs/./video.mp4",
        "/etc/passwd",
        "jobs//video.mp4",
        "jobs/video.mp4/",
        "jobs\\..\\video.mp4",
        "jobs/.hidden",
        "jobs/vidéo.mp4",
        "jobs/a b.mp4",
        "jobs/a\x00b",
        "",
        "a" * 1025,
    ],
)
def test_unsafe_keys_are_refused(store, key):
    for call in (
        lambda: store.put_bytes(key, b"x"),
        lambda: store.get_bytes(key),
        lambda: store.exists(key),
        lambda: store.local_path(key),
    ):
        with pytest.raises(ValueError):
            call()
    assert files_under(store.root) == []


def test_delete_prefix_removes_the_subtree_only(store):
    store.put_bytes("jobs/abc/a1/video.mp4", b"1")
    store.put_bytes("jobs/abc/a1/thumb.webp", b"2")
    store.put_bytes("jobs/abc/input/0.png", b"3")
    store.put_bytes("jobs/abcd/a1/video.mp4", b"keep")
    store.put_bytes("jobs/xyz/a1/video.mp4", b"keep")
    assert store.delete_prefix("jobs/abc") == 3
    assert not store.exists("jobs/abc/a1/video.mp4")
    assert store.get_bytes("jobs/abcd/a1/video.mp4") == b"keep"
    assert store.delete_prefix("jobs/xyz/") == 1
    assert store.delete_prefix("jobs/xyz/") == 0
    assert files_under(store.root) == ["jobs/abcd/a1/video.mp4"]
    for bad in ["", "/", "..", "jobs/../..", "/jobs"]:
        with pytest.raises(ValueError):
            store.delete_prefix(bad)
    assert store.root.is_dir()


def test_open_artifacts(tmp_path):
    store = open_artifacts(str(tmp_path / "a" / "b"))
    assert isinstance(store, LocalArtifacts) and (tmp_path / "a" / "b").is_dir()
    store.put_bytes(KEY, b"x")
    assert open_artifacts(tmp_path / "a" / "b").get_bytes(KEY) == b"x"
    with pytest.raises(ValueError, match="S3 storage is not supported yet"):
        open_artifacts("s3://bucket/prefix")
    with pytest.raises(ValueError, match="unknown scheme"):
        open_artifacts("gs://bucket")
    with pytest.raises(ValueError):
        open_artifacts("")


def test_delete_one_key(store):
    store.put_bytes("inputs/a.png", b"x")
    store.put_bytes("inputs/ab.png", b"y")
    assert store.delete("inputs/a.png") is True
    assert store.delete("inputs/a.png") is False
    assert not store.exists("inputs/a.png") and store.exists("inputs/ab.png")
