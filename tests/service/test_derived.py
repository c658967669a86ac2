"""Derived artifacts: made once however many ask at the same time, one at a time, failures typed."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from reelforge.artifacts import open_artifacts
from reelforge.errors import Conflict, Unavailable
from reelforge.service import derived
from reelforge.service.derived import MAX_PENDING, ensure_derived


@pytest.fixture
def artifacts(tmp_path):
    store = open_artifacts(tmp_path)
    store.put_bytes("jobs/a/video.mp4", b"source")
    return store


def wait_until(condition) -> None:
    for _ in range(10_000):
        if condition():
            return
        threading.Event().wait(0.01)
    raise AssertionError("condition never held")


def test_concurrent_requests_share_one_derivation(artifacts):
    release, calls = threading.Event(), []

    def make(source):
        calls.append(source)
        release.wait()
        return b"derived"

    with ThreadPoolExecutor(3) as pool:
        waiting = [pool.submit(ensure_derived, artifacts, "jobs/a/video.gif", "jobs/a/video.mp4", make, what="x")
                   for _ in range(3)]
        wait_until(lambda: calls)
        release.set()
        for future in waiting:
            future.result()
    assert len(calls) == 1 and artifacts.get_bytes("jobs/a/video.gif") == b"derived"
    # The local backend hands over its file rather than the bytes.
    assert str(calls[0]).endswith("video.mp4")
    ensure_derived(artifacts, "jobs/a/video.gif", "jobs/a/video.mp4", make, what="x")  # stored: not made again
    assert len(calls) == 1


def test_a_failed_derivation_is_a_conflict_and_stores_nothing(artifacts):
    def make(source):
        raise ValueError("the video has no frames")

    with pytest.raises(Conflict, match="Video 'v' has no gif: its video could not be converted") as info:
        ensure_derived(artifacts, "jobs/a/video.gif", "jobs/a/video.mp4", make, what="Video 'v' has no gif")
    assert info.value.code == "variant_unavailable" and not artifacts.exists("jobs/a/video.gif")


def test_past_the_pending_limit_a_request_is_told_to_retry(artifacts):
    release = threading.Event()

    def make(source):
        release.wait()
        return b"derived"

    with ThreadPoolExecutor(MAX_PENDING) as pool:
        waiting = [pool.submit(ensure_derived, artifacts, f"jobs/a/{i}.gif", "jobs/a/video.mp4", make, what="x")
                   for i in range(MAX_PENDING)]
        wait_until(lambda: len(derived._pending) == MAX_PENDING)
        with pytest.raises(Unavailable, match="retry"):
            ensure_derived(artifacts, "jobs/a/one-more.gif", "jobs/a/video.mp4", make, what="x")
        release.set()
        for future in waiting:
            future.result()
    assert all(artifacts.exists(f"jobs/a/{i}.gif") for i in range(MAX_PENDING))
