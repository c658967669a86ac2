"""JobControl: progress and the ETA it derives from the pace of the ticks, written through a real store."""

from __future__ import annotations

import time

import pytest

from reelforge.errors import JobCancelled
from reelforge.store import JobStore
from reelforge.worker.control import JobControl
from tests.worker.test_runner import spec


@pytest.fixture
def running(tmp_path):
    store = JobStore(f"sqlite:///{tmp_path}/jobs.db")
    store.migrate()
    store.create(spec())
    job = store.claim("w1", lease_seconds=30)
    return store, job


def test_eta_follows_the_measured_pace_and_reaches_the_store(running):
    store, job = running
    control = JobControl(store, job.id, "w1", lease_seconds=30, interval=10)
    control.on_step(1, 10)
    assert control.eta_at is None  # one tick measures nothing: loading and text encoding came before it
    time.sleep(0.05)
    control.on_step(2, 10)
    # 8 ticks to go at >= 0.05 s each.
    assert control.eta_at >= time.time() + 8 * 0.05 - 0.01
    control.beat()
    stored = store.get(job.id)
    assert stored.eta_at == control.eta_at and stored.progress == 18
    control.on_step(10, 10)
    assert control.eta_at <= time.time()


def test_progress_never_goes_back_when_the_total_grows(running):
    store, job = running
    control = JobControl(store, job.id, "w1", lease_seconds=30, interval=10)
    control.on_step(5, 10)
    control.on_step(6, 20)  # a tiled decode turned out longer than planned
    assert control.progress == 45


def test_a_cancel_seen_by_the_heartbeat_raises_at_the_next_tick(running):
    store, job = running
    control = JobControl(store, job.id, "w1", lease_seconds=30, interval=10)
    control.on_step(1, 4)
    store.request_cancel(job.id)
    control.beat()
    with pytest.raises(JobCancelled):
        control.on_step(2, 4)
