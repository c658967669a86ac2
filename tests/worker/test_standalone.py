"""`reelforge worker` run alone: it outlives the shell that started it, and SIGTERM drains it
(the current job finishes within drain_seconds, or goes back to the queue; nothing is lost)."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
import uuid

import httpx

from reelforge.settings import Settings
from reelforge.store import JobStore
from tests.live import LiveServer
from tests.pgcluster import create_database
from tests.worker.test_durability import SLOW, _alive

QUICK = {"size": "256x256", "seconds": 4, "num_inference_steps": 2}


def _env(models_dir) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELFORGE_")}
    env.update({"HF_HUB_OFFLINE": "1", "REELFORGE_TORCH_THREADS": "1", "REELFORGE_MODELS_DIR": str(models_dir),
                "REELFORGE_PROGRESS_INTERVAL": "0.2"})
    return env


def launch_detached(data, models_dir, *flags: str, shell_lives: float = 0.0, env: dict | None = None) -> int:
    """Start a worker in the background of a shell that exits ``shell_lives`` seconds later, as a
    terminal that started `reelforge worker ... &` and was then closed."""
    cmd = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "reelforge.cli", "worker", "--data-dir", str(data),
                                             *flags])
    shell = subprocess.Popen(
        ["sh", "-c", f"{cmd} >>{shlex.quote(str(data / 'worker.log'))} 2>&1 & echo $!; sleep {shell_lives}"],
        env={**_env(models_dir), **(env or {})}, stdout=subprocess.PIPE, text=True)
    pid = int(shell.stdout.readline())
    shell.wait(shell_lives + 30)
    return pid


def create(server, body) -> str:
    r = httpx.post(f"{server.base_url}/v1/videos", json={"prompt": "a red ball", **body})
    assert r.status_code == 200, r.text
    return r.json()["id"]


def status(server, vid) -> dict:
    return httpx.get(f"{server.base_url}/v1/videos/{vid}").json()


def wait_for(predicate, what: str, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def wait_exit(pid: int, timeout: float = 60) -> None:
    wait_for(lambda: not _alive(pid), f"worker {pid} to exit", timeout)


def live_workers(server) -> int:
    return httpx.get(f"{server.base_url}/readyz").json()["workers"]  # the open local server: an insider


def worker_row(data, pid: int) -> str:
    """The line of `reelforge workers` for the worker with this pid."""
    out = subprocess.run([sys.executable, "-m", "reelforge.cli", "workers", "--data-dir", str(data),
                          "--lease-seconds", "2"], capture_output=True, text=True, check=True)
    return next(line for line in out.stdout.splitlines() if f":{pid}:" in line)


def finished(server, vid: str, timeout: float = 120) -> dict:
    """The job once it completed or failed."""
    return wait_for(lambda: (s := status(server, vid))["status"] in ("completed", "failed") and s, vid, timeout)


def test_a_detached_worker_outlives_its_shell_and_runs_jobs(tmp_path, tiny_models_dir):
    data = tmp_path / "data"
    server = LiveServer(data, models_dir=tiny_models_dir, workers=0, env={"REELFORGE_LEASE_SECONDS": "2"}).start()
    assert live_workers(server) == 0
    # The shell outlives the worker's start-up (a parent-death signal set then would fire when it exits).
    pid = launch_detached(data, tiny_models_dir, "--lease-seconds", "2", shell_lives=8)
    try:
        time.sleep(1)
        assert _alive(pid), (data / "worker.log").read_text()
        vid = create(server, QUICK)
        done = finished(server, vid)
        assert done["status"] == "completed", done
        # It registered and beats: /readyz counts it, `reelforge workers` shows it live, with its pid.
        assert live_workers(server) == 1
        row = worker_row(data, pid)
        assert "live" in row and "reelforge-tiny" in row
        os.kill(pid, signal.SIGKILL)  # no goodbye: it just stops beating
        wait_for(lambda: live_workers(server) == 0, "the dead worker to stop counting", timeout=20)
        row = worker_row(data, pid)
        assert "dead" in row
    finally:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        server.stop()


def _busy(server, data, models_dir, drain: str):
    """A standalone worker busy with a slow job, one more job queued behind it, and SIGTERM sent."""
    pid = launch_detached(data, models_dir, "--drain-seconds", drain)
    busy, waiting = create(server, SLOW), create(server, QUICK)
    wait_for(lambda: (s := status(server, busy))["status"] == "in_progress" and s["progress"] > 0, "the slow job to run")
    os.kill(pid, signal.SIGTERM)
    return pid, busy, waiting


def test_sigterm_lets_the_current_job_finish_and_claims_nothing_more(tmp_path, tiny_models_dir):
    data = tmp_path / "data"
    server = LiveServer(data, models_dir=tiny_models_dir, workers=0).start()
    try:
        pid, busy, waiting = _busy(server, data, tiny_models_dir, "300")
        wait_exit(pid, timeout=240)
        assert status(server, busy)["status"] == "completed"
        assert status(server, waiting)["status"] == "queued"  # left for another worker
        row = worker_row(data, pid)
        assert "stopped" in row
    finally:
        server.stop()
    store = JobStore(Settings(overrides={"data_dir": str(data)}).database_url)
    assert [a.outcome for a in store.attempts(busy.removeprefix("video_"))] == ["completed"]
    assert store.attempts(waiting.removeprefix("video_")) == []


def test_sigterm_past_the_grace_period_hands_the_job_back(tmp_path, tiny_models_dir):
    data = tmp_path / "data"
    server = LiveServer(data, models_dir=tiny_models_dir, workers=0).start()
    try:
        pid, busy, waiting = _busy(server, data, tiny_models_dir, "0")
        wait_exit(pid, timeout=60)
        handed_back = status(server, busy)
        assert handed_back["status"] == "queued" and status(server, waiting)["status"] == "queued", handed_back
        # Nothing was lost: the next worker runs both.
        pid = launch_detached(data, tiny_models_dir)
        for vid in (busy, waiting):
            done = finished(server, vid, 240)
            assert done["status"] == "completed", done
        os.kill(pid, signal.SIGTERM)
        wait_exit(pid)
    finally:
        server.stop()


def test_on_postgresql_a_cancel_reaches_the_running_worker_by_notify(tmp_path, tiny_models_dir, postgres_url):
    """Heartbeats here come once a minute, so only the NOTIFY can stop the job before it ends."""
    data = tmp_path / "data"
    url = create_database(postgres_url, f"cancel_{uuid.uuid4().hex[:12]}")
    server = LiveServer(data, models_dir=tiny_models_dir, workers=0, database=url).start()
    pid = launch_detached(data, tiny_models_dir, "--database", url, "--progress-interval", "60",
                          "--lease-seconds", "600")
    try:
        vid = create(server, SLOW)
        wait_for(lambda: status(server, vid)["status"] == "in_progress", "the worker to claim the job")
        time.sleep(2)  # into the denoising loop
        r = httpx.post(f"{server.base_url}/v1/videos/{vid}/cancel")
        assert r.status_code == 200, r.text
        done = finished(server, vid, timeout=30)
        assert done["error"]["code"] == "cancelled", done
        # Stopped between steps, not refused at completion (which a slow heartbeat would come to).
        log = (data / "worker.log").read_text()
        assert f"job {vid.removeprefix('video_')} cancelled\n" in log, log
        assert _alive(pid)  # the worker goes on, ready for the next job
    finally:
        os.kill(pid, signal.SIGKILL)
        server.stop()
    store = JobStore(url)
    assert [a.outcome for a in store.attempts(vid.removeprefix("video_"))] == ["cancelled"]
