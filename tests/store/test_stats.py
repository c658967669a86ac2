"""The queue's numbers for /metrics, on SQLite and PostgreSQL."""

from __future__ import annotations

from reelforge.store import JobStats
from reelforge.store.stats import RUN_BUCKETS, STEP_BUCKETS, WAIT_BUCKETS
from tests.store.test_contract import SPEC


def test_depth_per_model_and_histograms_follow_the_jobs(store):
    stats = JobStats(store)
    assert stats.queued_by_model() == {} and stats.run_time().count == 0
    for model in ("reelforge-tiny", "reelforge-tiny", "ltx-tiny-random"):
        store.create(SPEC.replace(model=model), account="a", surface="openai", max_attempts=3)
    assert stats.queued_by_model() == {"reelforge-tiny": 2, "ltx-tiny-random": 1}

    job = store.claim("w1", 30)
    assert store.complete(job.id, "w1", {"artifacts": {}})
    assert sum(stats.queued_by_model().values()) == 2
    wait, run = stats.queue_wait(), stats.run_time()
    assert wait.count == 1 and run.count == 1 and run.total >= 0
    assert [b for b, _ in wait.buckets] == list(WAIT_BUCKETS) and [b for b, _ in run.buckets] == list(RUN_BUCKETS)
    # Cumulative: a job a fraction of a second long is under every bound.
    assert all(n == 1 for _, n in run.buckets)


def test_seconds_per_denoising_step_per_model_from_what_workers_measured(store):
    stats = JobStats(store)
    assert stats.step_time() == {}
    timings = {"ltx-tiny-random": [0.02, 0.2], "reelforge-tiny": [None, 0.004]}  # None: too few steps to time
    for model, steps in timings.items():
        for step_s in steps:
            store.create(SPEC.replace(model=model), account="a", surface="openai", max_attempts=3)
            job = store.claim("w1", 30)
            assert store.complete(job.id, "w1", {"artifacts": {}, "timings": {"step_s": step_s}})
    store.create(SPEC)  # queued: not counted
    got = stats.step_time()
    assert set(got) == {"ltx-tiny-random", "reelforge-tiny"}
    ltx, tiny = got["ltx-tiny-random"], got["reelforge-tiny"]
    assert ltx.count == 2 and abs(ltx.total - 0.22) < 1e-9
    assert dict(ltx.buckets)[0.025] == 1 and dict(ltx.buckets)[0.25] == 2 and dict(ltx.buckets)[0.01] == 0
    assert tiny.count == 1 and dict(tiny.buckets)[0.005] == 1
    assert [b for b, _ in ltx.buckets] == list(STEP_BUCKETS)
