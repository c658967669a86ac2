"""Kill the whole server mid-run; after a restart every accepted job finishes exactly once."""

from __future__ import annotations

import os
import signal
import time

import httpx

from reelforge.jobs import JobStatus
from reelforge.settings import Settings
from reelforge.store import JobStore
from tests.live import LiveServer

SLOW = {"size": "256x256", "num_frames": 161, "num_inference_steps": 100}


def _status(server, vid):
    return httpx.get(f"{server.base_url}/v1/videos/{vid}").json()


def test_sigkill_mid_run_loses_nothing_and_completes_each_job_once(tmp_path, tiny_models_dir):
    env = {"REELFORGE_LEASE_SECONDS": "2", "REELFORGE_PROGRESS_INTERVAL": "0.3"}
    data = tmp_path / "data"
    server = LiveServer(data, models_dir=tiny_models_dir, env=env, workers=2).start()
    ids = []
    try:
        for i in range(6):
            r = httpx.post(f"{server.base_url}/v1/videos", json={"prompt": f"durable {i}", **SLOW})
            assert r.status_code == 200, r.text
            ids.append(r.json()["id"])
        # Wait until work is genuinely under way: something running with progress, so the kill lands mid-job.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            states = [_status(server, v) for v in ids]
            if any(s["status"] == "in_progress" and s["progress"] > 0 for s in states):
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"nothing started: {states}\n{server.log()}")
        worker_pids = _children(server.proc.pid)
        assert len(worker_pids) >= 2
        # SIGKILL only the serve process: its workers must die with it, not live on as orphans.
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait(10)
        deadline = time.monotonic() + 10
        while [p for p in worker_pids if _alive(p)] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [p for p in worker_pids if _alive(p)], "worker processes outlived a SIGKILLed server"
    finally:
        server.kill()

    store = JobStore(Settings(overrides={"data_dir": str(data)}).database_url)
    before = {j: store.get(j.removeprefix("video_")).status for j in ids}
    assert JobStatus.IN_PROGRESS in before.values() or JobStatus.QUEUED in before.values()

    server = LiveServer(data, models_dir=tiny_models_dir, env=env, workers=2).start()
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            states = {v: _status(server, v) for v in ids}
            if all(s["status"] in ("completed", "failed") for s in states.values()):
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"not all jobs finished: {states}\n{server.log()}")
    finally:
        server.stop()

    assert all(s["status"] == "completed" for s in states.values()), states
    for vid in ids:
        attempts = store.attempts(vid.removeprefix("video_"))
        outcomes = [a.outcome for a in attempts]
        assert outcomes.count("completed") == 1, (vid, outcomes)
        job = store.get(vid.removeprefix("video_"))
        for key in job.result["artifacts"].values():
            assert (data / "artifacts" / key).is_file()
    # At least one job really was interrupted and retried.
    assert any(len(store.attempts(v.removeprefix("video_"))) > 1 for v in ids), [store.attempts(v.removeprefix("video_")) for v in ids]


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    out.append(int(entry))
            except OSError:
                continue
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
