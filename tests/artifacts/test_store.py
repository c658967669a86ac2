"""The behaviour every artifact backend shares (see reelforge.artifacts.base), run on each backend:
the ``store`` fixture is a local folder and an S3 bucket in turn (tests/artifacts/conftest.py)."""

from __future__ import annotations

import os

import pytest

from reelforge.artifacts import ArtifactMissing

KEY = "jobs/job_123/a1/video.mp4"


def test_put_get_roundtrip(store, stored):
    store.put_bytes(KEY, b"mp4 bytes")
    assert store.get_bytes(KEY) == b"mp4 bytes"
    assert store.size(KEY) == 9
    assert store.exists(KEY)
    assert stored() == [KEY]


def test_overwrite_replaces_and_leaves_nothing_else(store, stored):
    store.put_bytes(KEY, b"first")
    store.put_bytes(KEY, b"second version")
    assert store.get_bytes(KEY) == b"second version"
    assert store.size(KEY) == 14
    assert stored() == [KEY]


def test_empty_object(store):
    store.put_bytes(KEY, b"")
    assert store.get_bytes(KEY) == b"" and store.size(KEY) == 0 and store.exists(KEY)
    with pytest.raises(ValueError):  # no byte range fits in nothing
        store.read_range(KEY, 0, 0)
    with pytest.raises(ValueError):
        store.iter_range(KEY, 0, 0)


def test_put_file_moves_the_file_in(store, tmp_path):
    source = tmp_path / "scratch.mp4"
    source.write_bytes(b"encoded video")
    store.put_file(KEY, source)
    assert not source.exists()
    assert store.get_bytes(KEY) == b"encoded video"
    with pytest.raises(FileNotFoundError):
        store.put_file(KEY, tmp_path / "nope.mp4")
    assert store.get_bytes(KEY) == b"encoded video"


def test_missing_keys_raise_artifact_missing_a_key_error(store):
    store.put_bytes(KEY, b"x")
    for call in (
        lambda: store.get_bytes("jobs/other/video.mp4"),
        lambda: store.size("jobs/other/video.mp4"),
        lambda: store.read_range("jobs/other/video.mp4", 0, 1),
        lambda: store.iter_range("jobs/other/video.mp4", 0, 1),
        lambda: store.get_bytes("jobs/job_123"),  # a folder is not an artifact
        lambda: store.size("jobs/job_123"),
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
    assert store.read_range(KEY, 1023, 1023) == data[-1:]
    for start, end in [(1024, 1030), (-1, 5), (10, 9)]:
        with pytest.raises(ValueError):
            store.read_range(KEY, start, end)


def test_iter_range_chunks_and_checks_eagerly(store):
    data = os.urandom(10_000)
    store.put_bytes(KEY, data)
    chunks = list(store.iter_range(KEY, 100, 8_099, chunk=1000))
    assert [len(c) for c in chunks] == [1000] * 8
    assert b"".join(chunks) == data[100:8100]
    uneven = list(store.iter_range(KEY, 9_000, 10**9, chunk=300))  # the end is clamped to the object
    assert [len(c) for c in uneven] == [300, 300, 300, 100]
    assert b"".join(uneven) == data[9_000:]
    assert b"".join(store.iter_range(KEY, 0, 10**9)) == data
    assert list(store.iter_range(KEY, 5, 5)) == [data[5:6]]
    # Errors come at call time, before any iteration.
    for start, end in [(10_000, 10_001), (-1, 5), (10, 9)]:
        with pytest.raises(ValueError):
            store.iter_range(KEY, start, end)
    with pytest.raises(ArtifactMissing):
        store.iter_range("jobs/nope/video.mp4", 0, 1)
    with pytest.raises(ValueError):
        store.iter_range(KEY, 0, 1, chunk=0)


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
def test_unsafe_keys_are_refused(store, stored, key):
    for call in (
        lambda: store.put_bytes(key, b"x"),
        lambda: store.get_bytes(key),
        lambda: store.size(key),
        lambda: store.exists(key),
        lambda: store.delete(key),
        lambda: store.iter_range(key, 0, 1),
        lambda: store.local_path(key),
    ):
        with pytest.raises(ValueError):
            call()
    assert stored() == []


def test_delete_prefix_removes_the_subtree_only(store, stored):
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
    assert store.delete_prefix("never/written") == 0
    assert stored() == ["jobs/abcd/a1/video.mp4"]
    for bad in ["", "/", "..", "jobs/../..", "/jobs"]:
        with pytest.raises(ValueError):
            store.delete_prefix(bad)
    assert stored() == ["jobs/abcd/a1/video.mp4"]


def test_delete_one_key(store, stored):
    store.put_bytes("inputs/a.png", b"x")
    store.put_bytes("inputs/ab.png", b"y")
    assert store.delete("inputs/a.png") is True
    assert store.delete("inputs/a.png") is False
    assert not store.exists("inputs/a.png") and store.exists("inputs/ab.png")
    assert stored() == ["inputs/ab.png"]
