"""The worker registry on SQLite and PostgreSQL: beats upsert one row, liveness follows the beat."""

from __future__ import annotations

import time

from reelforge.store import WorkerRegistry


def beat(registry: WorkerRegistry, worker_id: str, job: str | None = None, models=()) -> None:
    registry.beat(worker_id, host="gpu-1", pid=42, device="cuda:0", models=list(models), current_job=job,
                  started_at=time.time() - 5)


def test_a_beat_registers_then_updates_one_row(store):
    registry = WorkerRegistry(store)
    assert registry.list() == [] and registry.live_count(30) == 0
    beat(registry, "w1")
    beat(registry, "w1", job="j1", models=["reelforge-tiny"])
    (w,) = registry.list()
    assert (w.id, w.host, w.pid, w.device, w.models, w.current_job) == ("w1", "gpu-1", 42, "cuda:0",
                                                                        ["reelforge-tiny"], "j1")
    assert w.live(30) and registry.live_count(30) == 1


def test_liveness_ends_with_the_beats_or_a_clean_stop(store):
    registry = WorkerRegistry(store)
    beat(registry, "quiet")
    beat(registry, "leaving", job="j2")
    time.sleep(0.3)
    beat(registry, "busy")
    assert registry.live_count(0.2) == 1  # only the beat younger than the ttl counts
    registry.stopped("leaving")
    by_id = {w.id: w for w in registry.list()}
    assert by_id["leaving"].stopped_at is not None and by_id["leaving"].current_job is None
    assert not by_id["leaving"].live(30) and by_id["quiet"].live(30)
    assert registry.live_count(30) == 2
