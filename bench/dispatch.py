"""Dispatch latency on PostgreSQL: from a create's commit to a worker's claim, with LISTEN/NOTIFY
wake-ups against polling, side by side on one throwaway cluster.

    .venv/bin/python bench/dispatch.py [--jobs 200]

Each mode runs one claiming loop shaped like ``Worker.serve_forever``'s idle path (has_queued,
then claim, else wait): ``notify`` waits on ``store.Wakeups`` with the 1 s safety poll;
``poll-50ms`` and ``poll-1s`` sleep that long between looks (the old default, and the
safety poll alone). Jobs are created one at a time at random moments, so each lands while the
claimer is idle. It prints p50/p99 per mode and their ratios to notify.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reelforge.store import JobStore, Wakeups  # noqa: E402
from tests.pgcluster import PostgresCluster, create_database  # noqa: E402
from tests.store.test_contract import SPEC  # noqa: E402


def run(store: JobStore, mode: str, jobs: int) -> list[float]:
    wakeups = Wakeups(store.engine) if mode == "notify" else None
    idle = {"notify": 1.0, "poll-50ms": 0.05, "poll-1s": 1.0}[mode]
    claimed: dict[str, float] = {}
    stop = threading.Event()

    def claimer() -> None:
        while not stop.is_set():
            job = store.claim("bench", 60) if store.has_queued() else None
            if job is not None:
                claimed[job.id] = time.perf_counter()
                store.complete(job.id, "bench", {"artifacts": {}})
            elif wakeups is not None:
                wakeups.wait(idle)
            else:
                stop.wait(idle)

    thread = threading.Thread(target=claimer)
    thread.start()
    if wakeups is not None:
        time.sleep(0.5)  # let it start listening
    created: dict[str, float] = {}
    for _ in range(jobs):
        time.sleep(random.uniform(0.02, 0.3))
        job = store.create(SPEC)
        created[job.id] = time.perf_counter()
        deadline = time.monotonic() + 10
        while job.id not in claimed and time.monotonic() < deadline:
            time.sleep(0.001)
    stop.set()
    if wakeups is not None:
        wakeups.wake()
        wakeups.close()
    thread.join()
    return [claimed[j] - created[j] for j in created if j in claimed]


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    args = parser.parse_args()
    cluster = PostgresCluster()
    url = cluster.start()
    try:
        rows = {}
        for mode in ("notify", "poll-50ms", "poll-1s"):
            store = JobStore(create_database(url, f"bench_{uuid.uuid4().hex[:8]}"))
            store.migrate()
            lat = run(store, mode, args.jobs)
            store.close()
            rows[mode] = (pct(lat, 50), pct(lat, 99), len(lat))
        base50, base99, _ = rows["notify"]
        print(f"dispatch latency, create commit -> claim, {args.jobs} jobs each, PostgreSQL")
        print(f"{'mode':<10} {'p50 ms':>8} {'p99 ms':>8} {'claimed':>8} {'p50/notify':>11} {'p99/notify':>11}")
        for mode, (p50, p99, n) in rows.items():
            print(f"{mode:<10} {p50 * 1000:8.1f} {p99 * 1000:8.1f} {n:8d} {p50 / base50:10.1f}x {p99 / base99:10.1f}x")
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
