"""Control-plane scaling on PostgreSQL and S3: throughput with 1, 2, 4 and 8 worker processes.

    .venv/bin/python bench/scaling.py [--job-seconds 0.5] [--workers 1,2,4,8] [--jobs-per-worker 24]

A CI machine has 2 cores and cannot hold 8 real workers, so the engine is a bench-only stand-in
(``FixedTimeWorker``) that takes a fixed time per job and then stores small, real, pre-encoded
artifacts. Everything else is the real code: ``Worker.serve_forever`` (sweep, has_queued, claim,
LISTEN/NOTIFY wake-ups, the registry heartbeat), ``JobControl`` (progress, lease, cancel flag),
the S3 uploads and ``complete``, each worker in its own spawned process, against one throwaway
PostgreSQL and one throwaway S3 (SeaweedFS).

For each N a fresh database gets N x jobs-per-worker jobs; the N workers start together once
all are ready, and the time runs from the first claim to the last completion, read from the
store's own timestamps. It prints throughput(N) / (N x throughput(1)) (the goal: >= 0.9 at 8)
and where each job's time beyond the fixed engine time went: inside the attempt (progress
writes, uploads, complete) and between attempts (sweep, has_queued, claim).
REELFORGE_* variables set worker settings the bench does not own (progress_interval, ...).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reelforge.jobs import Job  # noqa: E402
from reelforge.settings import Settings  # noqa: E402
from reelforge.store import JobStore  # noqa: E402
from reelforge.store.tables import attempts, jobs  # noqa: E402
from reelforge.worker.control import JobControl  # noqa: E402
from reelforge.worker.render import OUTPUTS, write_outputs  # noqa: E402
from reelforge.worker.runner import Worker, _prefix  # noqa: E402
from tests.pgcluster import PostgresCluster, create_database  # noqa: E402
from tests.s3server import S3Server  # noqa: E402
from tests.store.test_contract import SPEC  # noqa: E402

STEPS = 10  # on_step ticks per stand-in job, so progress and the cancel check run as in a real one
START_TIMEOUT = 120.0


class FixedTimeWorker(Worker):
    """BENCH-ONLY. A real ``Worker`` whose engine is a stand-in: each job sleeps ``job_seconds``
    (ticking ``on_step`` like a pipeline) instead of generating and encoding, then uploads
    ``outputs``, artifacts encoded once by the bench, through the real artifact store.
    Never use it to serve jobs: the videos it stores do not show the prompt."""

    def __init__(self, settings: Settings, *, job_seconds: float, outputs: dict[str, bytes], **kwargs):
        super().__init__(settings, **kwargs)
        self.job_seconds = job_seconds
        self.outputs = outputs

    def _execute(self, job: Job, ctl: JobControl) -> dict:
        prefix = _prefix(job)
        t0 = time.perf_counter()
        for step in range(1, STEPS + 1):
            # Sleep to a deadline, not by a fixed amount, so oversleeping does not add up.
            time.sleep(max(0.0, t0 + self.job_seconds * step / STEPS - time.perf_counter()))
            ctl.on_step(step, STEPS)
        t1 = time.perf_counter()
        ctl.check()
        ctl.set_progress(92)
        keys = {}
        with tempfile.TemporaryDirectory(prefix="reelforge-bench-") as tmp:
            ctl.check()
            ctl.set_progress(97)
            for variant, data in self.outputs.items():
                path = Path(tmp) / OUTPUTS[variant]
                path.write_bytes(data)
                keys[variant] = prefix + OUTPUTS[variant]
                self.artifacts.put_file(keys[variant], path)
        t2 = time.perf_counter()
        spec = job.spec
        return {
            "artifacts": keys, "num_frames": spec.num_frames, "fps": spec.fps, "width": spec.width,
            "height": spec.height, "attempt": job.attempts, "worker": self.id,
            "timings": {"generate_s": round(t1 - t0, 3), "encode_s": round(t2 - t1, 3)},
        }


def worker_process(values: dict, job_seconds: float, outputs: dict[str, bytes], start, stop) -> None:
    """One worker process: build the worker (store, S3 client), wait until all are built, serve until ``stop``."""
    # One job per claim: a batched claim runs the real engine's batch path, not this stand-in.
    settings = Settings(overrides={**values, "max_batch": 1})
    stopping = threading.Event()
    threading.Thread(target=lambda: (stop.wait(), stopping.set()), daemon=True).start()
    worker = FixedTimeWorker(settings, job_seconds=job_seconds, outputs=outputs, stopping=stopping)
    start.wait(START_TIMEOUT)
    worker.serve_forever()


def encoded_outputs() -> dict[str, bytes]:
    """The artifacts every stand-in job stores: SPEC's size and length, encoded once by the real encoders."""
    t = np.arange(SPEC.num_frames, dtype=np.float32)[:, None, None, None]
    y, x = np.mgrid[0:SPEC.height, 0:SPEC.width].astype(np.float32)
    frames = (127 + 120 * np.sin((x[None, :, :, None] + y[None, :, :, None]) / 9 + t / 3 + np.arange(3))).astype(np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_outputs(frames, SPEC, Path(tmp))
        return {variant: path.read_bytes() for variant, path in paths.items()}


@dataclass
class Run:
    workers: int
    jobs: int
    seconds: float
    cycle: float  # mean seconds from one claim to the same worker's next: the steady rate, without the batch's tail
    in_attempt: float  # mean seconds per attempt beyond job_seconds
    between: float  # mean seconds from a worker's completion to its next claim
    per_worker: tuple[int, int]  # fewest and most jobs one worker ran

    @property
    def rate(self) -> float:
        return self.jobs / self.seconds


def run(pg_url: str, s3: S3Server, bucket: str, data_dir: str, n: int, jobs_per_worker: int, job_seconds: float,
        outputs: dict[str, bytes]) -> Run:
    name = f"scaling_{n}_{uuid.uuid4().hex[:8]}"
    url = create_database(pg_url, name)
    store = JobStore(url)
    store.migrate()
    total = n * jobs_per_worker
    for _ in range(total):
        store.create(SPEC)
    values = {"database": url, "artifacts": f"s3://{bucket}/{name}", "s3_endpoint_url": s3.endpoint,
              "s3_region": "us-east-1", "s3_access_key_id": s3.access_key, "s3_secret_access_key": s3.secret_key,
              "data_dir": data_dir, "log_level": "warning"}
    ctx = mp.get_context("spawn")
    start, stop = ctx.Barrier(n + 1), ctx.Event()
    procs = [ctx.Process(target=worker_process, args=(values, job_seconds, outputs, start, stop),
                         name=f"bench-worker-{i}") for i in range(n)]
    for p in procs:
        p.start()
    try:
        start.wait(START_TIMEOUT)
        deadline = time.monotonic() + total * job_seconds * 3 + 60
        while True:
            counts = store.counts()
            left = counts.get("queued", 0) + counts.get("in_progress", 0)
            if left == 0:
                break
            if time.monotonic() > deadline or not all(p.is_alive() for p in procs):
                raise SystemExit(f"N={n}: {left} jobs unfinished; workers alive: {[p.is_alive() for p in procs]}")
            time.sleep(0.2)
    finally:
        stop.set()
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.terminate()
                p.join(5)
    result = measure(store, n, total, job_seconds)
    store.close()
    return result


def measure(store: JobStore, n: int, total: int, job_seconds: float) -> Run:
    with store.engine.connect() as conn:
        statuses = dict(conn.execute(sa.select(jobs.c.status, sa.func.count()).group_by(jobs.c.status)).all())
        if statuses != {"completed": total}:
            raise SystemExit(f"N={n}: expected {total} completed jobs, found {statuses}")
        span = conn.execute(sa.select(sa.func.max(jobs.c.completed_at) - sa.func.min(jobs.c.started_at))).scalar_one()
        rows = conn.execute(sa.select(attempts.c.worker_id, attempts.c.started_at, attempts.c.ended_at)
                            .order_by(attempts.c.started_at)).all()
    if len(rows) != total:
        raise SystemExit(f"N={n}: {len(rows)} attempts for {total} jobs (a lease lapsed or a job was retried)")
    by_worker: dict[str, list] = defaultdict(list)
    for row in rows:
        by_worker[row.worker_id].append(row)
    pairs = [(a, b) for runs in by_worker.values() for a, b in zip(runs, runs[1:])]
    counts = [len(runs) for runs in by_worker.values()] + [0] * (n - len(by_worker))
    return Run(
        workers=n, jobs=total, seconds=span,
        cycle=statistics.fmean(b.started_at - a.started_at for a, b in pairs),
        in_attempt=statistics.fmean(r.ended_at - r.started_at - job_seconds for r in rows),
        between=statistics.fmean(b.started_at - a.ended_at for a, b in pairs),
        per_worker=(min(counts), max(counts)),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--job-seconds", type=float, default=0.5, help="fixed engine time per job")
    parser.add_argument("--workers", default="1,2,4,8", help="comma-separated worker counts; the first is the baseline")
    parser.add_argument("--jobs-per-worker", type=int, default=24, help="jobs queued per worker for each run")
    args = parser.parse_args()
    counts = [int(c) for c in args.workers.split(",")]
    outputs = encoded_outputs()
    settings = Settings()
    pg, s3 = PostgresCluster(), S3Server()
    try:
        pg_url = pg.start()
        s3.start()
        bucket = s3.create_bucket("scaling")
        with tempfile.TemporaryDirectory(prefix="reelforge-bench-data-") as data_dir:
            runs = [run(pg_url, s3, bucket, data_dir, n, args.jobs_per_worker, args.job_seconds, outputs)
                    for n in counts]
    finally:
        s3.stop()
        pg.stop()
    base = runs[0]
    print(f"control-plane scaling, PostgreSQL + S3 (SeaweedFS), bench-only engine stand-in of {args.job_seconds} s/job, "
          f"{sum(len(b) for b in outputs.values())} B of artifacts/job; lease {settings.lease_seconds} s, "
          f"progress every {settings.progress_interval} s, safety poll {settings.notify_poll_seconds} s")
    print(f"{'N':>3} {'jobs':>5} {'seconds':>8} {'jobs/s':>7} {'efficiency':>10} {'steady':>7} {'overhead ms/job':>16} "
          f"{'in attempt':>11} {'between':>8} {'jobs/worker':>12}")
    for r in runs:
        efficiency = r.rate / (r.workers / base.workers * base.rate)
        overhead = r.workers * r.seconds / r.jobs - args.job_seconds
        print(f"{r.workers:3d} {r.jobs:5d} {r.seconds:8.2f} {r.rate:7.2f} {efficiency:10.3f} {base.cycle / r.cycle:7.3f} "
              f"{overhead * 1000:16.1f} {r.in_attempt * 1000:11.1f} {r.between * 1000:8.1f} "
              f"{r.per_worker[0]:>6}-{r.per_worker[1]:<5}")
    print(f"efficiency = throughput(N) / (N / {base.workers} x throughput({base.workers})), first claim to last completion; "
          "steady = the same from each worker's claim-to-next-claim time, so without the batch's ragged end.\n"
          "overhead = N x seconds / jobs - job seconds; of it, in attempt: claim to complete beyond the engine time; "
          "between: complete to the next claim; the rest is the ragged end.")


if __name__ == "__main__":
    main()
