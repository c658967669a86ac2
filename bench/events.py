"""Event latency: how long after a job's change its SSE event, its webhook and a poller's answer arrive.

    .venv/bin/python bench/events.py [--jobs 20] [--database sqlite|postgresql] [--poll-interval 1.0]

A real `reelforge serve` (one worker, the built-in tiny model's test build, `--webhook-allow-hosts
127.0.0.1`) on a throwaway data dir, SQLite by default or a throwaway PostgreSQL cluster. One webhook
endpoint points at a local receiver. For each job, one after another, three clients watch it:

- sse:     GET /v1/videos/{id}/events, each event's arrival minus the moment the store recorded it
           (the event's created_at, read from the store afterwards, same clock);
- webhook: the video.completed delivery's arrival at the receiver minus the job's completed_at;
- poll:    the baseline, GET /v1/videos/{id} every --poll-interval seconds (the OpenAI SDK's
           create_and_poll cadence), the first answer showing completed minus completed_at.

It prints p50/p99 of each in milliseconds and the ratio of the SSE and webhook completion latencies
to polling's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.live import LiveServer  # noqa: E402
from tests.pgcluster import PostgresCluster, create_database  # noqa: E402
from tests.receiver import Receiver  # noqa: E402

from reelforge.store import EventLog, JobStore  # noqa: E402

BODY = {"prompt": "a red ball rolls across a green field", "model": "reelforge-tiny", "size": "256x256", "num_frames": 9}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def watch_sse(base: str, video_id: str, arrivals: dict[int, float], ready: threading.Event) -> None:
    with httpx.Client(timeout=120) as client:
        with client.stream("GET", f"{base}/v1/videos/{video_id}/events") as response:
            ready.set()
            seq = None
            for line in response.iter_lines():
                if line.startswith("id:"):
                    seq = int(line[3:].strip())
                elif line.startswith("data:") and seq is not None:
                    arrivals[seq] = time.time()
                    if json.loads(line[5:])["type"] in ("video.completed", "video.failed"):
                        return


def watch_poll(base: str, video_id: str, interval: float, out: list[float]) -> None:
    with httpx.Client(timeout=30) as client:
        while True:
            status = client.get(f"{base}/v1/videos/{video_id}").json()["status"]
            if status in ("completed", "failed"):
                out.append(time.time())
                return
            time.sleep(interval)


def run(server: LiveServer, store: JobStore, receiver: Receiver, jobs: int, poll_interval: float) -> dict:
    base = server.base_url
    endpoint = httpx.post(f"{base}/v1/webhook_endpoints", json={
        "name": "bench", "url": receiver.url(), "event_types": ["video.completed", "video.failed"]}, timeout=30)
    endpoint.raise_for_status()
    log = EventLog(store.engine)
    sse, sse_done, webhook, poll = [], [], [], []
    for n in range(jobs):
        created = httpx.post(f"{base}/v1/videos", json=BODY, timeout=30)
        created.raise_for_status()
        video_id = created.json()["id"]
        arrivals: dict[int, float] = {}
        polled: list[float] = []
        ready = threading.Event()
        threads = [threading.Thread(target=watch_sse, args=(base, video_id, arrivals, ready)),
                   threading.Thread(target=watch_poll, args=(base, video_id, poll_interval, polled))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        job_id = video_id.removeprefix("video_")
        job = store.get(job_id)
        delivery = receiver.wait_for(n + 1, timeout=60)[n]
        events = log.for_job(job_id)
        # Events recorded before the stream connected (the create's own) were replayed, not pushed.
        pushed = [arrivals[e.seq] - e.created_at for e in events if e.seq in arrivals and e.seq > 1]
        sse.extend(pushed)
        sse_done.append(arrivals[events[-1].seq] - job.completed_at)
        webhook.append(delivery.at - job.completed_at)
        poll.append(polled[0] - job.completed_at)
        print(f"job {n + 1}/{jobs}: {len(events)} events; completed -> sse {sse_done[-1] * 1000:.1f} ms, "
              f"webhook {webhook[-1] * 1000:.1f} ms, poll {poll[-1] * 1000:.1f} ms", flush=True)
    return {"sse (every event)": sse, "sse (completed)": sse_done, "webhook (completed)": webhook,
            "poll (completed)": poll}


def report(results: dict[str, list[float]], args: argparse.Namespace) -> None:
    print(f"\nlatency after the change, {args.jobs} jobs, {args.database}, poll every {args.poll_interval:g} s")
    print(f"{'stream':<22}{'n':>5}{'p50 ms':>10}{'p99 ms':>10}")
    for name, values in results.items():
        print(f"{name:<22}{len(values):>5}{percentile(values, 50) * 1000:>10.1f}{percentile(values, 99) * 1000:>10.1f}")
    base = statistics.median(results["poll (completed)"])
    for name in ("sse (completed)", "webhook (completed)"):
        print(f"{name} p50 / poll p50: {statistics.median(results[name]) / base:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--poll-interval", type=float, default=1.0)
    args = parser.parse_args()
    from reelforge.engine.tiny_random import build_tiny_ltx

    with tempfile.TemporaryDirectory(prefix="reelforge-bench-events-") as tmp:
        folder = Path(tmp)
        build_tiny_ltx(folder / "models" / "ltx-tiny-random")
        cluster = PostgresCluster() if args.database == "postgresql" else None
        database = create_database(cluster.start(), f"bench_{uuid.uuid4().hex[:8]}") if cluster else None
        server = LiveServer(folder / "data", models_dir=folder / "models", database=database,
                            env={"REELFORGE_PROGRESS_INTERVAL": "0.2"},
                            args=("--webhook-allow-hosts", "127.0.0.1"))
        try:
            server.start()
            store = JobStore(database or f"sqlite:///{folder / 'data' / 'reelforge.db'}")
            with Receiver() as receiver:
                results = run(server, store, receiver, args.jobs, args.poll_interval)
            store.close()
        finally:
            server.stop()
            if cluster is not None:
                cluster.stop()
    report(results, args)


if __name__ == "__main__":
    main()
