"""Server-sent event streams against a live `reelforge serve`, read with plain httpx: a job's stream
from queued to completed, resuming with Last-Event-ID, the account-wide stream and its isolation,
cancellation, snapshots of jobs without events, keep-alives, a clean close on SIGTERM, and a worker
on another process feeding a stream through PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from reelforge.store import EventLog, JobStore
from tests.api.dialects.conftest import create_key
from tests.live import LiveServer
from tests.pgcluster import create_database

TINY = {"model": "reelforge-tiny", "size": "256x256", "num_frames": 9}
# Long enough for a few progress events (recorded at most once a second), short enough for CI.
RUNNING = {**TINY, "num_inference_steps": 16}
QUICK = {**TINY, "num_inference_steps": 2}
# Far longer than any test waits: a job that is still running when it is cancelled.
ENDLESS = {**TINY, "num_inference_steps": 100}
READ = httpx.Timeout(60.0, connect=10.0)  # a stream may be quiet for a while between events


# --- reading a stream ------------------------------------------------------------------------


def parse(lines, until=None) -> list[dict]:
    """SSE frames from ``lines``: {"id", "event", "data"} per event (data decoded), {"comment"} per
    keep-alive. Stops once ``until(frames)`` holds, or when the stream ends."""
    frames: list[dict] = []
    fields: dict[str, str] = {}
    for line in lines:
        if line.startswith(":"):
            frames.append({"comment": line[1:].strip()})
        elif line:
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value
            continue
        elif "data" in fields:
            frames.append({"id": fields.get("id"), "event": fields.get("event"), "data": json.loads(fields["data"])})
            fields = {}
        else:
            continue
        if until is not None and until(frames):
            break
    return frames


def events(frames: list[dict]) -> list[dict]:
    return [f for f in frames if "data" in f]


def terminal(frames: list[dict], n: int = 1) -> bool:
    return sum(f.get("event") in ("video.completed", "video.failed") for f in frames) >= n


@contextmanager
def stream(server: LiveServer, path: str, key: str | None = None, **kwargs):
    headers = {**({"Authorization": f"Bearer {key}"} if key else {}), **kwargs.pop("headers", {})}
    with httpx.stream("GET", server.base_url + path, headers=headers, timeout=READ, **kwargs) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        yield r


def read(server: LiveServer, path: str, key: str | None = None, until=None, **kwargs) -> list[dict]:
    with stream(server, path, key, **kwargs) as r:
        return parse(r.iter_lines(), until)


def create(server: LiveServer, body: dict, key: str | None = None) -> str:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    r = httpx.post(server.base_url + "/v1/videos", json={"prompt": "a red circle moving left", **body},
                   headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["id"]


def video(server: LiveServer, vid: str, key: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.get(f"{server.base_url}/v1/videos/{vid}", headers=headers, timeout=30).json()


def check_job_stream(frames: list[dict], vid: str) -> list[dict]:
    got = events(frames)
    assert [e["id"] for e in got] == [str(i) for i in range(1, len(got) + 1)]
    assert [e["data"]["sequence_number"] for e in got] == list(range(1, len(got) + 1))
    assert all(e["data"]["id"] == vid and e["data"]["object"] == "video.event" for e in got)
    assert all(e["event"] == e["data"]["type"] for e in got)
    return got


# --- one keyed server for most of the module ---------------------------------------------------


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    data = tmp_path_factory.mktemp("events")
    keys = {name: create_key(data, "--name", name, "--unlimited", "--rate-limit", "unlimited")
            for name in ("alice", "bob")}
    server = LiveServer(data, workers=1, env={"REELFORGE_PROGRESS_INTERVAL": "0.2"}).start()
    yield server, keys
    server.stop()


def test_a_jobs_stream_runs_from_queued_to_completed_and_resumes_from_last_event_id(keyed):
    server, keys = keyed
    alice = keys["alice"]
    vid = create(server, RUNNING, alice)
    frames = read(server, f"/v1/videos/{vid}/events", alice)  # ends by itself after the terminal event
    got = check_job_stream(frames, vid)

    types = [e["event"] for e in got]
    assert types[0] == "video.queued" and types[-1] == "video.completed"
    assert set(types[1:-1]) == {"video.in_progress"} and len(types) >= 4  # the claim and at least one progress
    progress = [e["data"]["progress"] for e in got]
    assert progress == sorted(progress) and progress[-1] == 100
    running = [e["data"] for e in got[2:-1]]
    assert 0 < running[0]["progress"] and all(a["progress"] < b["progress"] for a, b in zip(running, running[1:]))
    assert all(d["status"] == "in_progress" and (d["eta_seconds"] is None or d["eta_seconds"] >= 0) for d in running)
    assert [e["data"]["status"] for e in got[:1]] == ["queued"]
    done = got[-1]["data"]
    assert done["status"] == "completed" and done["error"] is None
    assert done["video"] == video(server, vid, alice)  # the Video exactly as a poll renders it
    assert "video" not in got[0]["data"]

    # A reconnect that saw the first three events gets the rest, and only the rest.
    again = read(server, f"/v1/videos/{vid}/events", alice, headers={"Last-Event-ID": "3"})
    assert events(again) == got[3:]
    # One that saw the end is told nothing more will come (an EventSource stops reconnecting on 204).
    end = httpx.get(f"{server.base_url}/v1/videos/{vid}/events", headers={
        "Authorization": f"Bearer {alice}", "Last-Event-ID": got[-1]["id"]}, timeout=30)
    assert end.status_code == 204 and end.content == b""
    bad = httpx.get(f"{server.base_url}/v1/videos/{vid}/events", headers={
        "Authorization": f"Bearer {alice}", "Last-Event-ID": "not-a-number"}, timeout=30)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "Last-Event-ID"


def test_the_account_stream_shows_all_its_jobs_and_nothing_of_other_accounts(keyed):
    server, keys = keyed
    alice, bob = keys["alice"], keys["bob"]
    with stream(server, "/v1/events", alice) as mine, stream(server, "/v1/events", bob) as theirs:
        # Both streams start now: the jobs of the test before are not replayed.
        first, second = create(server, QUICK, alice), create(server, QUICK, alice)
        frames = parse(mine.iter_lines(), lambda f: terminal(f, 2))
        got = events(frames)
        assert {e["data"]["id"] for e in got} == {first, second}
        assert [int(e["id"]) for e in got] == sorted(int(e["id"]) for e in got)  # ids order the account's events
        for vid in (first, second):
            per_job = [e["data"] for e in got if e["data"]["id"] == vid]
            assert [d["sequence_number"] for d in per_job] == list(range(1, len(per_job) + 1))
            assert per_job[0]["type"] == "video.queued" and per_job[-1]["type"] == "video.completed"
            assert per_job[-1]["video"] == video(server, vid, alice)

        # Bob's stream saw none of that: the first thing on it is his own job, after Alice's have ended.
        own = create(server, QUICK, bob)
        seen = events(parse(theirs.iter_lines(), terminal))
        assert {e["data"]["id"] for e in seen} == {own}

    # Resuming the account stream: ?after= and the Last-Event-ID header (which wins) both work.
    cursor = got[1]["id"]
    resumed = events(read(server, f"/v1/events?after={cursor}", alice, until=lambda f: terminal(f, 2)))
    assert resumed == got[2:]
    header = events(read(server, "/v1/events?after=0", alice, headers={"Last-Event-ID": cursor},
                         until=lambda f: terminal(f, 2)))
    assert header == got[2:]

    # Another account's job is missing, as on polls.
    r = httpx.get(f"{server.base_url}/v1/videos/{first}/events", headers={"Authorization": f"Bearer {bob}"},
                  timeout=30)
    assert r.status_code == 404 and r.json()["error"]["type"] == "invalid_request_error"
    assert httpx.get(f"{server.base_url}/v1/events", timeout=30).status_code == 401


def test_a_cancelled_job_reads_as_failed_with_code_cancelled(keyed):
    server, keys = keyed
    alice = keys["alice"]
    vid = create(server, ENDLESS, alice)
    r = httpx.post(f"{server.base_url}/v1/videos/{vid}/cancel", headers={"Authorization": f"Bearer {alice}"},
                   timeout=30)
    assert r.status_code == 200
    got = check_job_stream(read(server, f"/v1/videos/{vid}/events", alice), vid)
    end = got[-1]
    assert end["event"] == "video.failed"
    assert end["data"]["status"] == "failed" and end["data"]["error"]["code"] == "cancelled"
    assert end["data"]["video"] == video(server, vid, alice)
    assert end["data"]["video"]["status"] == "failed" and end["data"]["video"]["error"]["code"] == "cancelled"


# --- a server of its own: snapshots, keep-alives and shutdown ----------------------------------


def test_snapshots_keepalives_and_a_clean_close_on_sigterm(tmp_path):
    # No worker: jobs stay queued. Keep-alives twice a second, so a quiet stream shows one at once.
    server = LiveServer(tmp_path, workers=0, env={"REELFORGE_SSE_KEEPALIVE": "0.5"}).start()
    try:
        waiting = create(server, QUICK)
        frames = read(server, f"/v1/videos/{waiting}/events", until=lambda f: any("comment" in x for x in f))
        assert [f.get("event") for f in frames] == ["video.queued", None] and "ping" in frames[1]["comment"]

        # A job whose events were pruned by retention streams one snapshot of its row, then what comes next.
        pruned = create(server, QUICK)
        store = JobStore(f"sqlite:///{tmp_path}/reelforge.db")
        assert EventLog(store.engine).prune(time.time() + 1) == 2  # both jobs' "queued"
        store.close()
        with stream(server, f"/v1/videos/{pruned}/events") as r:
            lines = r.iter_lines()
            snap = events(parse(lines, lambda f: events(f)))
            assert [(e["id"], e["event"], e["data"]["sequence_number"], e["data"]["status"]) for e in snap] == [
                ("0", "video.queued", 0, "queued")]
            assert httpx.post(f"{server.base_url}/v1/videos/{pruned}/cancel", timeout=30).status_code == 200
            rest = events(parse(lines))  # ends after the terminal event
        assert [(e["id"], e["event"], e["data"]["error"]["code"]) for e in rest] == [("1", "video.failed", "cancelled")]

        # SIGTERM with streams open: each ends with a clean end of body and the server exits by itself.
        ended: dict[str, list | BaseException] = {}
        streaming = {name: threading.Event() for name in ("job", "account")}

        def hold(name: str, path: str) -> None:
            try:
                with stream(server, path) as r:
                    lines = r.iter_lines()
                    # Streaming for real before the SIGTERM: the job's snapshot, or the account's first keep-alive.
                    first = parse(lines, lambda f: events(f) if name == "job" else any("comment" in x for x in f))
                    streaming[name].set()
                    ended[name] = first + parse(lines)
            except BaseException as exc:  # reported by the assertions below
                ended[name] = exc
                streaming[name].set()

        opened = [threading.Thread(target=hold, args=(n, p)) for n, p in
                  (("job", f"/v1/videos/{waiting}/events"), ("account", "/v1/events"))]
        for t in opened:
            t.start()
        assert all(s.wait(30) for s in streaming.values())
        server.stop()  # SIGTERM; it sends SIGKILL only if the server is still up 30 s later
        for t in opened:
            t.join(30)
        assert server.proc.returncode in (0, -signal.SIGTERM), server.log()  # not the SIGKILL
        assert all(isinstance(v, list) for v in ended.values()), ended
        # Its events were pruned: the queued job's stream began with a snapshot, then waited.
        assert [(e["id"], e["event"]) for e in events(ended["job"])] == [("0", "video.queued")]
        assert events(ended["account"]) == []
    finally:
        server.stop()


# --- PostgreSQL: the API streams what a separately started worker does ------------------------


def _worker_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELFORGE_")}
    return {**env, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", "REELFORGE_TORCH_THREADS": "1",
            "REELFORGE_PROGRESS_INTERVAL": "0.2"}


@pytest.mark.slow
def test_on_postgresql_a_stream_sees_a_job_run_by_a_separate_worker(tmp_path, postgres_url):
    url = create_database(postgres_url, f"events_{uuid.uuid4().hex[:12]}")
    api = LiveServer(tmp_path / "api", workers=0, database=url).start()
    worker_dir = Path(tmp_path / "worker")
    worker_dir.mkdir()
    log = open(worker_dir / "worker.log", "ab")
    worker = subprocess.Popen([sys.executable, "-m", "reelforge.cli", "worker", "--data-dir", str(worker_dir),
                               "--database", url], env=_worker_env(), stdout=log, stderr=subprocess.STDOUT)
    try:
        with stream(api, "/v1/events") as everything:
            vid = create(api, RUNNING)
            got = check_job_stream(read(api, f"/v1/videos/{vid}/events"), vid)
            assert got[0]["event"] == "video.queued" and got[-1]["event"] == "video.completed", got
            assert [e["event"] for e in got[1:-1]] == ["video.in_progress"] * (len(got) - 2)
            progress = [e["data"]["progress"] for e in got]
            assert progress == sorted(progress)
            account = events(parse(everything.iter_lines(), terminal))
            assert [e["data"] for e in account] == [e["data"] for e in got]
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(10)
        log.close()
        api.stop()
