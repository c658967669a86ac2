"""What the queue looks like, for /metrics: computed from the job rows on each scrape.

Read from the store rather than counted in memory, so every API replica reports the same numbers
for work done by any worker on any machine, and a restart loses nothing. The histograms are
cumulative over every job the store holds, as Prometheus expects of a histogram.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from reelforge.store.store import JobStore
from reelforge.store.tables import jobs

# Seconds. A queue wait spans a cold start to many minutes behind other jobs; a run, one step to an hour.
WAIT_BUCKETS = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
RUN_BUCKETS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
# A denoising step: milliseconds for the built-in model on a GPU, a minute for a large model on a CPU.
STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass(frozen=True)
class Histogram:
    buckets: tuple[tuple[float, int], ...]  # (upper bound, jobs at or under it), cumulative
    count: int
    total: float  # the sum of the observed seconds


class JobStats:
    def __init__(self, store: JobStore):
        self.engine = store.engine

    def queued_by_model(self) -> dict[str, int]:
        model = jobs.c.spec["model"].as_string()
        query = (sa.select(model, sa.func.count()).where(jobs.c.status == "queued", jobs.c.deleted == sa.false())
                 .group_by(model))
        with self.engine.connect() as conn:
            return {m: n for m, n in conn.execute(query).all()}

    def queue_wait(self) -> Histogram:
        """From creation to the first start, for every job that started."""
        return self._histogram(jobs.c.started_at - jobs.c.created_at, jobs.c.started_at.is_not(None), WAIT_BUCKETS)

    def run_time(self) -> Histogram:
        """From the start to completion, for completed jobs."""
        return self._histogram(jobs.c.completed_at - jobs.c.started_at,
                               sa.and_(jobs.c.status == "completed", jobs.c.started_at.is_not(None)), RUN_BUCKETS)

    def step_time(self) -> dict[str, Histogram]:
        """Mean seconds per denoising step of each completed job (as its worker measured it), per model."""
        seconds = jobs.c.result[("timings", "step_s")].as_float()
        where = sa.and_(jobs.c.status == "completed", seconds.is_not(None))
        return self._histograms(seconds, where, STEP_BUCKETS, jobs.c.spec["model"].as_string())

    def _histogram(self, seconds, where, bounds: tuple[float, ...]) -> Histogram:
        return self._histograms(seconds, where, bounds).get(None, Histogram(tuple((b, 0) for b in bounds), 0, 0.0))

    def _histograms(self, seconds, where, bounds: tuple[float, ...], by=None) -> dict:
        # One scan: every bucket is a conditional count over the same rows (per group, with ``by``).
        columns = [sa.func.count(), sa.func.coalesce(sa.func.sum(seconds), 0.0)]
        columns += [sa.func.coalesce(sa.func.sum(sa.case((seconds <= b, 1), else_=0)), 0) for b in bounds]
        query = sa.select(by if by is not None else sa.null(), *columns).where(where)
        if by is not None:
            query = query.group_by(by)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return {key: Histogram(tuple(zip(bounds, (int(n) for n in under))), int(count), float(total))
                for key, count, total, *under in rows if count}
