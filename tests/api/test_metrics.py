"""/metrics over real HTTP: prometheus-client's own parser reads it, and the queue numbers follow
jobs as a separately started worker runs them."""

from __future__ import annotations

import os
import signal

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.api.dialects.conftest import create_key
from tests.live import LiveServer
from tests.worker.test_standalone import QUICK, create, launch_detached, status, wait_exit, wait_for


def scrape(server, headers=None) -> dict[tuple[str, tuple], float]:
    r = httpx.get(server.base_url + "/metrics", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


def value(samples, name: str, **labels) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def test_metrics_follow_the_queue_and_the_workers(tmp_path, tiny_models_dir):
    data = tmp_path / "data"
    server = LiveServer(data, models_dir=tiny_models_dir, workers=0, env={"REELFORGE_LEASE_SECONDS": "2"}).start()
    pid = None
    try:
        empty = scrape(server)
        assert value(empty, "reelforge_workers_live") == 0
        assert value(empty, "reelforge_jobs", status="queued") == 0
        assert value(empty, "reelforge_run_seconds_count") == 0

        ids = [create(server, QUICK) for _ in range(2)]
        queued = scrape(server)
        assert value(queued, "reelforge_queue_depth", model="reelforge-tiny") == 2
        assert value(queued, "reelforge_jobs", status="queued") == 2
        assert value(queued, "reelforge_http_request_duration_seconds_count",
                     method="POST", route="/v1/videos", status="200") == 2

        pid = launch_detached(data, tiny_models_dir, "--lease-seconds", "2")
        for vid in ids:
            wait_for(lambda: status(server, vid)["status"] == "completed", vid, 180)
        done = scrape(server)
        assert value(done, "reelforge_workers_live") == 1
        assert value(done, "reelforge_queue_depth", model="reelforge-tiny") is None  # nothing queued for it
        assert value(done, "reelforge_jobs", status="completed") == 2
        assert value(done, "reelforge_run_seconds_count") == 2 and value(done, "reelforge_run_seconds_sum") > 0
        assert value(done, "reelforge_queue_wait_seconds_count") == 2
        assert value(done, "reelforge_run_seconds_bucket", le="+Inf") == 2
        # Seconds per denoising step, as the worker timed them (QUICK runs 2 steps): one sample per job.
        assert value(done, "reelforge_denoising_step_seconds_count", model="reelforge-tiny") == 2
        assert value(done, "reelforge_denoising_step_seconds_sum", model="reelforge-tiny") > 0
        # A poll is timed under its route's template, never under the job's own path.
        assert value(done, "reelforge_http_request_duration_seconds_count",
                     method="GET", route="/v1/videos/{video_id}", status="200") >= 2

        os.kill(pid, signal.SIGTERM)
        wait_exit(pid)
        pid = None
        assert value(scrape(server), "reelforge_workers_live") == 0

        # Once keys exist, /metrics is for callers with one (a scraper sends it as a bearer token).
        key = create_key(data, "--name", "prometheus")
        assert httpx.get(server.base_url + "/metrics").status_code == 401
        assert value(scrape(server, {"Authorization": f"Bearer {key}"}), "reelforge_jobs", status="completed") == 2
    finally:
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
        server.stop()
