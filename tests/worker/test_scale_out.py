"""Scaled out for real: one API process and separately started `reelforge worker` processes, each with its own
data dir, sharing only a real PostgreSQL (store and queue) and a real S3 server (SeaweedFS) for artifacts.

- The issue's end-to-end proof: two detached workers complete jobs created through the official SDK, and the
  content downloads through the SDK and through a dialect's signed URL.
- Fault tests, bounded in time: 20 kill -9 of workers mid-job (every job completes exactly once by the attempts
  audit, and is charged once); 10 kill -9 of the API while a client creates jobs (every 2xx create exists and
  completes); 1,000 concurrent creates (1,000 distinct jobs, no 5xx).
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from reelforge.store import AccountStore, JobStore
from tests.api.dialects.conftest import create_key
from tests.live import LiveServer
from tests.pgcluster import create_database
from tests.s3server import S3Server
from tests.worker.test_durability import _alive
from tests.worker.test_standalone import launch_detached, wait_for

QUICK = {"size": "256x256", "seconds": "4", "extra_body": {"num_inference_steps": 2}}
# Long enough (a few seconds of steps) that a kill lands mid-job, short enough for 20 of them.
MEDIUM = {"size": "256x256", "num_frames": 33, "num_inference_steps": 24}
LEASE = "2"


@dataclass
class Cluster:
    """PostgreSQL + S3 shared by an API process and any number of workers, each in a folder of its own."""

    root: Path
    models: Path
    database: str
    s3: S3Server
    bucket: str
    workers: dict[int, Path] = field(default_factory=dict)  # pid -> data dir
    api: LiveServer | None = None

    @property
    def artifacts(self) -> list[str]:
        return ["--artifacts", f"s3://{self.bucket}/reelforge", "--s3-endpoint-url", self.s3.endpoint,
                "--s3-region", "us-east-1", "--s3-access-key-id", self.s3.access_key]

    @property
    def env(self) -> dict[str, str]:
        return {"REELFORGE_S3_SECRET_ACCESS_KEY": self.s3.secret_key}

    def start_api(self, **env: str) -> LiveServer:
        port = self.api.port if self.api is not None else None
        self.api = LiveServer(self.root / "api", models_dir=self.models, workers=0, database=self.database,
                              args=tuple(self.artifacts), env={**self.env, "REELFORGE_LEASE_SECONDS": LEASE, **env})
        if port is not None:
            self.api.port = port  # a restart answers where the clients already point
        return self.api.start()

    def start_worker(self) -> int:
        data = self.root / f"worker-{len(self.workers)}"
        data.mkdir(parents=True)
        pid = launch_detached(data, self.models, "--database", self.database, *self.artifacts,
                              "--lease-seconds", LEASE, env=self.env)
        self.workers[pid] = data
        return pid

    def kill_worker(self, pid: int) -> None:
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not _alive(pid), f"worker {pid} to die", 30)

    def stop(self) -> None:
        for pid in self.workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if self.api is not None:
            self.api.stop()

    def store(self) -> JobStore:
        return JobStore(self.database)


@pytest.fixture
def cluster(tmp_path, tiny_models_dir, postgres_url, s3_server):
    c = Cluster(tmp_path, tiny_models_dir, create_database(postgres_url, f"scale_{uuid.uuid4().hex[:12]}"),
                s3_server, s3_server.create_bucket(f"scale-{uuid.uuid4().hex[:12]}"))
    yield c
    c.stop()


def job_ids(videos) -> list[str]:
    return [v.removeprefix("video_") for v in videos]


def all_finished(store: JobStore, ids: list[str]) -> bool:
    return all(store.get(i).status.value in ("completed", "failed", "cancelled") for i in ids)


def assert_completed_exactly_once(store: JobStore, ids: list[str]) -> None:
    for job_id in ids:
        job = store.get(job_id)
        assert job.status.value == "completed", (job_id, job.status, job.error)
        outcomes = [a.outcome for a in store.attempts(job_id)]
        assert outcomes.count("completed") == 1 and outcomes[-1] == "completed", (job_id, outcomes)


@pytest.mark.slow
def test_an_api_and_two_detached_workers_on_postgresql_and_s3_serve_the_sdk(cluster):
    api = cluster.start_api()
    pids = [cluster.start_worker(), cluster.start_worker()]
    client = OpenAI(base_url=api.base_url + "/v1", api_key="local", max_retries=0)
    # Step counts differ so no two jobs batch (store.batches): one worker would otherwise take them all.
    created = [client.videos.create(prompt=f"a red ball {i}", size="256x256",
                                    extra_body={"num_frames": 17, "num_inference_steps": 8 + i}) for i in range(4)]
    done = [client.videos.poll(v.id, poll_interval_ms=200) for v in created]
    assert [v.status for v in done] == ["completed"] * 4, [v.error for v in done]

    mp4 = client.videos.download_content(done[0].id).read()
    assert mp4[4:8] == b"ftyp"
    store = cluster.store()
    ran_by = {store.get(i).result["worker"] for i in job_ids(v.id for v in done)}
    assert {w.split(":")[1] for w in ran_by} == {str(p) for p in pids}  # both workers took jobs
    # The outputs are in the bucket, and in no worker's folder or the API's.
    listed = cluster.s3.client().list_objects_v2(Bucket=cluster.bucket, Prefix="reelforge/jobs/")
    assert sum(k["Key"].endswith("/video.mp4") for k in listed["Contents"]) == 4
    for folder in [api.data_dir, *cluster.workers.values()]:
        assert not (folder / "artifacts").exists(), folder

    # A vendor dialect's signed link streams the same stored video, with no key.
    r = httpx.post(api.base_url + "/v2/video/text-to-video", headers={"Authorization": "Bearer local"},
                   files={"prompt": (None, "a blue square"), "style": (None, "fast-svd")})
    assert r.status_code == 200, r.text
    vid = r.json()["id"]
    status = wait_for(lambda: (s := httpx.get(f"{api.base_url}/v2/assets/{vid}/status",
                                              headers={"Authorization": "Bearer local"}).json()["video"])
                      ["status"] != "processing" and s, vid, 180)
    assert status["status"] == "finished", status
    signed = httpx.get(status["url"]["generation"])
    assert signed.status_code == 200 and signed.headers["content-type"] == "video/mp4"
    assert signed.content[4:8] == b"ftyp"
    store.close()


@pytest.mark.slow
def test_twenty_kill_9_of_workers_mid_job_lose_nothing_and_charge_once(cluster):
    kills_wanted = 20
    # Each kill costs a job an attempt: allow enough that no job gives up.
    api = cluster.start_api(REELFORGE_MAX_ATTEMPTS=str(kills_wanted + 5))
    key = create_key(api.data_dir, "--name", "faults", "--credits", "1000000", "--database", cluster.database)
    auth = {"Authorization": f"Bearer {key}"}
    store = cluster.store()
    account = AccountStore(store).authenticate(key)

    def create() -> str:
        r = httpx.post(api.base_url + "/v1/videos", json={"prompt": "a ball", **MEDIUM}, headers=auth, timeout=30)
        assert r.status_code == 200, r.text
        return r.json()["id"].removeprefix("video_")

    ids = [create() for _ in range(6)]
    for _ in range(2):
        cluster.start_worker()
    killed: list[tuple[str, int]] = []  # (job, attempt) of each kill
    deadline = time.monotonic() + 900
    while len(killed) < kills_wanted:
        assert time.monotonic() < deadline, f"only {len(killed)} kills in time"
        if all_finished(store, ids):
            ids += [create() for _ in range(3)]
        # A job well into its steps and far from done, so the kill lands mid-job.
        # (A job whose worker was killed reads in progress until its lease expires: skip those.)
        running = [(j, pid) for j in (store.get(i) for i in ids)
                   if j.status.value == "in_progress" and 10 <= j.progress <= 70 and j.lease_owner
                   and _alive(pid := int(j.lease_owner.split(":")[1]))]
        if not running:
            time.sleep(0.1)
            continue
        job, pid = running[0]
        cluster.kill_worker(pid)
        killed.append((job.id, job.attempts))
        cluster.start_worker()

    wait_for(lambda: all_finished(store, ids), "every job to finish after the kills", 600)
    assert_completed_exactly_once(store, ids)
    # Every killed attempt was lost (never completed), and was requeued, not charged again.
    for job_id, number in killed:
        [attempt] = [a for a in store.attempts(job_id) if a.number == number]
        assert attempt.outcome == "expired", (job_id, number, attempt)
    charges = [store.get(i).charge for i in ids]
    assert all(c > 0 for c in charges)
    assert AccountStore(store).get(account.id).credits == 1_000_000 - sum(charges)
    store.close()


@pytest.mark.slow
def test_ten_kill_9_of_the_api_while_a_client_creates_lose_no_acknowledged_job(cluster):
    cluster.start_api()
    cluster.start_worker()
    acknowledged: list[str] = []
    refused: list[str] = []
    stop = threading.Event()

    def client_loop() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                r = httpx.post(cluster.api.base_url + "/v1/videos", timeout=10,
                               json={"prompt": f"create {n}", "size": "256x256", "seconds": "4",
                                     "num_inference_steps": 2})
            except httpx.TransportError as exc:  # the API is down or died mid-request: no answer, no promise
                refused.append(type(exc).__name__)
                time.sleep(0.05)
                continue
            if r.status_code == 200:
                acknowledged.append(r.json()["id"])
            else:
                refused.append(str(r.status_code))
            assert r.status_code < 500, r.text

    client = threading.Thread(target=client_loop, daemon=True)
    client.start()
    for _ in range(10):
        before = len(acknowledged)
        wait_for(lambda: len(acknowledged) >= before + 3, "creates to be acknowledged", 60)
        os.killpg(cluster.api.proc.pid, signal.SIGKILL)  # the API process, mid-stream of creates
        cluster.api.proc.wait(30)
        cluster.start_api()
    time.sleep(1)
    stop.set()
    client.join(30)
    assert not client.is_alive()

    store = cluster.store()
    ids = job_ids(acknowledged)
    assert len(set(ids)) == len(ids) >= 30
    wait_for(lambda: all_finished(store, ids), "every acknowledged job to finish", 600)
    assert_completed_exactly_once(store, ids)
    store.close()


async def _create_all(base_url: str, n: int) -> list[httpx.Response | BaseException]:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=300) as client:
        start = asyncio.Event()

        async def one(i: int) -> httpx.Response:
            await start.wait()
            return await client.post("/v1/videos", json={"prompt": f"burst {i}", "size": "256x256", "seconds": "4"})

        tasks = [asyncio.create_task(one(i)) for i in range(n)]
        await asyncio.sleep(0)
        start.set()
        return await asyncio.gather(*tasks, return_exceptions=True)


@pytest.mark.slow
def test_a_thousand_concurrent_creates_make_a_thousand_jobs_and_no_5xx(cluster):
    api = cluster.start_api()
    responses = asyncio.run(_create_all(api.base_url, 1000))
    errors = [r for r in responses if isinstance(r, BaseException)]
    assert not errors, errors[:3]
    statuses = sorted({r.status_code for r in responses})
    assert statuses == [200], [(r.status_code, r.text[:200]) for r in responses if r.status_code != 200][:5]
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 1000
    store = cluster.store()
    assert store.counts().get("queued") == 1000
    store.close()
