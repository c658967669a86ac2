"""LISTEN/NOTIFY wake-ups on a real PostgreSQL: a create wakes a listening worker at once, a rolled
back create does not, and SQLite falls back to the timed poll."""

from __future__ import annotations

import threading

import pytest

from reelforge.errors import InsufficientCredits
from reelforge.store import AccountStore, JobStore, Wakeups
from tests.store.test_contract import SPEC


def listening(store: JobStore) -> Wakeups:
    w = Wakeups(store.engine)
    assert w.pushed
    assert w.wait(30)  # the first wake-up says "listening now, look once"
    return w


def test_a_create_on_another_connection_wakes_the_listener(pg_store):
    w = listening(pg_store)
    try:
        other = JobStore(str(pg_store.engine.url.render_as_string(hide_password=False)))
        woke = []
        waiter = threading.Thread(target=lambda: woke.append(w.wait(60)))
        waiter.start()
        other.create(SPEC)
        waiter.join(70)
        # Far below the 60 s timeout in practice; what is asserted is that a notification (True) ended
        # the wait, not the timeout (False).
        assert woke == [True]
        other.close()
    finally:
        w.close()


def test_a_rolled_back_create_sends_nothing(pg_store):
    w = listening(pg_store)
    try:
        poor, _ = AccountStore(pg_store).create("poor", credits=0, rate_limit=10, rate_window=60)
        with pytest.raises(InsufficientCredits):
            pg_store.create(SPEC, account=poor.id, charge=5)
        assert w.wait(1.5) is False
        pg_store.create(SPEC)
        assert w.wait(30) is True
    finally:
        w.close()


def test_sqlite_waits_out_its_poll(tmp_path):
    store = JobStore(f"sqlite:///{tmp_path}/jobs.db")
    store.migrate()
    w = Wakeups(store.engine)
    assert not w.pushed and w.wait(0.05) is False
    store.create(SPEC)
    assert w.wait(0.05) is False  # no NOTIFY here: the worker's poll finds the job
    w.close()
    store.close()


def test_a_cancel_of_a_running_job_reaches_the_worker_that_watches_it(pg_store):
    w = listening(pg_store)
    try:
        running, queued = pg_store.create(SPEC), pg_store.create(SPEC)
        assert pg_store.claim("w1", 60).id == running.id
        cancelled = {job.id: threading.Event() for job in (running, queued)}
        for job_id, event in cancelled.items():
            w.watch_cancel(job_id, event)
        other = JobStore(str(pg_store.engine.url.render_as_string(hide_password=False)))
        other.request_cancel(running.id)
        assert cancelled[running.id].wait(60)
        # A queued job is cancelled outright: no worker holds it, so nothing is sent.
        other.request_cancel(queued.id)
        assert not cancelled[queued.id].wait(1.5)
        other.close()
    finally:
        w.close()


def test_deleting_a_running_job_notifies_too_and_an_unwatched_job_is_ignored(pg_store):
    w = listening(pg_store)
    try:
        job = pg_store.create(SPEC)
        pg_store.claim("w1", 60)
        event = threading.Event()
        w.watch_cancel(job.id, event)
        w.unwatch_cancel(job.id)
        pg_store.request_cancel(job.id)
        assert not event.wait(1.5)
        w.watch_cancel(job.id, event)
        pg_store.delete(job.id)
        assert event.wait(60)
    finally:
        w.close()


def test_the_deliverers_channel_hears_added_deliveries_and_not_every_job_event(pg_store):
    """Job events (a create, progress) wake the event streams but no deliverer; the end of a job
    that has a webhook to send does."""
    import queue

    from reelforge.store import WebhookEndpoints
    from reelforge.store.event_wakeups import EventWakeups
    from reelforge.store.outbox import CHANNEL as OUTBOX_CHANNEL

    heard: queue.Queue = queue.Queue()
    listener = EventWakeups(pg_store.engine, heard.put, channel=OUTBOX_CHANNEL)
    listener.start()
    try:
        assert heard.get(timeout=30) is None  # "listening now"
        WebhookEndpoints(pg_store).create("acct_a", name="hook", url="https://hooks.example/a",
                                          event_types=["video.completed"], secret="whsec_c2VjcmV0c2VjcmV0")
        job = pg_store.create(SPEC, account="acct_a")
        assert pg_store.claim("w1", 60).id == job.id
        pg_store.heartbeat(job.id, "w1", progress=50, lease_seconds=60)
        with pytest.raises(queue.Empty):
            heard.get(timeout=1.5)
        assert pg_store.complete(job.id, "w1", {"artifacts": {}})  # enqueues the delivery
        assert heard.get(timeout=30) == ""
    finally:
        listener.stop()
