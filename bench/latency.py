"""Dispatch and create latency of a live `reelforge serve` (SQLite, local artifacts).

    python bench/latency.py [--requests 500] [--clients 16] [--dispatch-samples 20]

- dispatch: queued -> in_progress with an idle worker, read from the job store's own
  timestamps (created_at, started_at), one job at a time.
- create: POST /v1/videos latency, p50/p99 over N requests from C concurrent clients,
  with the workers off so only the API path is measured; printed side by side with
  the same load on GET /healthz (the framework's floor) and their ratio.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from reelforge.settings import Settings
from reelforge.store import JobStore


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(data_dir: Path, workers: int, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """A `reelforge serve` on a free port, once it is ready; ``env`` is added to this environment."""
    port = free_port()
    # Settings come from the flags here, never from a REELFORGE_* left in the shell.
    base = {k: v for k, v in os.environ.items() if not k.startswith("REELFORGE_")}
    env = {**base, "HF_HUB_OFFLINE": "1", "REELFORGE_LOG_LEVEL": "warning", **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "reelforge.cli", "serve", "--port", str(port), "--data-dir", str(data_dir),
         "--workers", str(workers)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("server did not start")


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(30)


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def bench_dispatch(samples: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = serve(Path(tmp), workers=1)
        store = JobStore(Settings(overrides={"data_dir": tmp}).database_url)
        body = {"prompt": "dispatch", "size": "256x256", "num_frames": 9, "num_inference_steps": 1}
        try:
            # Warm-up: the first job loads the model; the worker is idle again afterwards.
            lat = []
            for i in range(samples + 1):
                vid = httpx.post(url + "/v1/videos", json=body).json()["id"]
                while httpx.get(f"{url}/v1/videos/{vid}").json()["status"] not in ("completed", "failed"):
                    time.sleep(0.05)
                time.sleep(0.3)  # let the worker go idle (polling) before the next submission
                job = store.get(vid.removeprefix("video_"))
                if i:
                    lat.append(job.started_at - job.created_at)
            return lat
        finally:
            stop(proc)


def load(url: str, method: str, path: str, body: dict | None, n: int, clients: int) -> list[float]:
    def one(client: httpx.Client) -> float:
        t = time.perf_counter()
        r = client.request(method, url + path, json=body)
        r.raise_for_status()
        return time.perf_counter() - t

    clients_ = [httpx.Client() for _ in range(clients)]
    try:
        with ThreadPoolExecutor(clients) as pool:
            return list(pool.map(lambda i: one(clients_[i % clients]), range(n)))
    finally:
        for c in clients_:
            c.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--dispatch-samples", type=int, default=20)
    args = ap.parse_args()

    d = bench_dispatch(args.dispatch_samples)
    print(f"dispatch latency (queued -> in_progress, idle worker, n={len(d)}): "
          f"p50 {statistics.median(d) * 1000:.1f} ms, p99 {pct(d, 99) * 1000:.1f} ms, max {max(d) * 1000:.1f} ms")

    with tempfile.TemporaryDirectory() as tmp:
        proc, url = serve(Path(tmp), workers=0)
        try:
            body = {"prompt": "a red ball", "size": "256x256", "num_frames": 9}
            load(url, "POST", "/v1/videos", body, 50, args.clients)  # warm-up
            create = load(url, "POST", "/v1/videos", body, args.requests, args.clients)
            health = load(url, "GET", "/healthz", None, args.requests, args.clients)
        finally:
            stop(proc)
    for name, v in (("POST /v1/videos", create), ("GET /healthz (baseline)", health)):
        print(f"{name:26s} n={len(v)} clients={args.clients}: p50 {statistics.median(v) * 1000:7.1f} ms   "
              f"p99 {pct(v, 99) * 1000:7.1f} ms")
    print(f"ratio create/baseline: p50 {statistics.median(create) / statistics.median(health):.2f}x, "
          f"p99 {pct(create, 99) / pct(health, 99):.2f}x")


if __name__ == "__main__":
    main()
