"""The worker loop in-process: a bad job fails alone and the worker goes on."""

from __future__ import annotations

import threading

import pytest

from reelforge.jobs import JobSpec, JobStatus, Task
from reelforge.settings import Settings
from reelforge.store import JobStore
from reelforge.worker.runner import Worker


def spec(**kw) -> JobSpec:
    base = dict(model="ltx-tiny-random", task=Task.T2V, prompt="p", seed=1, num_inference_steps=2, guidance_scale=3.0,
                fps=8, num_frames=9, width=256, height=256, seconds=1)
    base.update(kw)
    return JobSpec(**base)


@pytest.fixture
def worker(tmp_path, tiny_models_dir):
    settings = Settings(overrides={"data_dir": str(tmp_path), "models_dir": str(tiny_models_dir), "lease_seconds": 5.0})
    store = JobStore(settings.database_url)
    store.migrate()
    return Worker(settings, store=store)


def test_a_failing_job_fails_with_a_clear_error_and_the_next_one_completes(worker):
    store = worker.store
    # Submitted while the model existed, then removed from the catalog: the worker must fail it, not crash.
    gone = store.create(spec(model="removed-model"))
    missing_input = store.create(spec(task=Task.I2V, input_image="inputs/never-stored.png"))
    good = store.create(spec())
    for _ in range(3):
        assert worker.run_once()
    assert not worker.run_once()

    gone = store.get(gone.id)
    assert gone.status is JobStatus.FAILED and "removed-model" in gone.error.message
    missing = store.get(missing_input.id)
    assert missing.status is JobStatus.FAILED and missing.error.message
    done = store.get(good.id)
    assert done.status is JobStatus.COMPLETED and done.result["num_frames"] == 9
    assert set(done.result["artifacts"]) == {"video", "thumbnail", "spritesheet", "gif"}
    for key in done.result["artifacts"].values():
        assert worker.artifacts.exists(key)
    assert worker.artifacts.get_bytes(done.result["artifacts"]["gif"])[:6] == b"GIF89a"  # made by the worker
    assert [a.outcome for a in store.attempts(good.id)] == ["completed"]


def test_shutdown_hands_the_running_job_back_to_the_queue(worker):
    store = worker.store
    job = store.create(spec(num_inference_steps=100, num_frames=33))
    worker.settings._values["progress_interval"] = 0.1

    def stop_once_running():
        while store.get(job.id).progress == 0:
            threading.Event().wait(0.02)
        worker.stopping.set()

    watcher = threading.Thread(target=stop_once_running)
    watcher.start()
    assert worker.run_once()
    watcher.join()
    again = store.get(job.id)
    assert again.status is JobStatus.QUEUED and again.lease_owner is None and again.progress == 0
    assert [a.outcome for a in store.attempts(job.id)] == ["released"]
