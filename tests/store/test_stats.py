"""The queue's numbers for /metrics, on SQLite and PostgreSQL."""

from __future__ import annotations

from reelforge.store import JobStats
from reelforge.store.stats import RUN_BUCKETS, WAIT_BUCKETS
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
