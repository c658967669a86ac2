"""Job events: one per status change and throttled progress, written with the change, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

from tests.store.conftest import run_threads
from tests.store.test_contract import SPEC, expire

from reelforge.store import EventLog
from reelforge.store.events import PROGRESS_INTERVAL


def kinds(log: EventLog, job_id: str) -> list[tuple[int, str, int]]:
    return [(e.seq, e.type, e.progress) for e in log.for_job(job_id)]


def test_a_job_runs_queued_in_progress_progress_completed(store):
    log = EventLog(store.engine)
    job = store.create(SPEC, account="a")
    claimed = store.claim("w1", 30)
    store.heartbeat(job.id, "w1", progress=40, lease_seconds=30, eta_at=claimed.created_at + 99)
    assert store.complete(job.id, "w1", {"video": "k"})
    assert kinds(log, job.id) == [(1, "queued", 0), (2, "in_progress", 0), (3, "progress", 40), (4, "completed", 100)]
    progress = log.for_job(job.id)[2]
    assert progress.eta_at == claimed.created_at + 99 and progress.status == "in_progress"
    assert [e.seq for e in log.for_job(job.id, after=2)] == [3, 4]


def test_progress_is_throttled_and_never_goes_back(store):
    log = EventLog(store.engine)
    job = store.create(SPEC)
    store.claim("w1", 30)
    for p in (10, 20, 30):  # three beats within a second: only the first is recorded
        store.heartbeat(job.id, "w1", progress=p, lease_seconds=30)
    assert kinds(log, job.id)[-1] == (3, "progress", 10)
    store.heartbeat(job.id, "w1", progress=5, lease_seconds=30)  # lower: the job's progress stays 30
    assert len(log.for_job(job.id)) == 3
    assert PROGRESS_INTERVAL <= 1.0


def test_failure_and_cancels_are_terminal_events(store):
    log = EventLog(store.engine)
    failed = store.create(SPEC)
    store.claim("w1", 30)
    store.fail(failed.id, "w1", "generation_failed", "boom")
    end = log.for_job(failed.id)[-1]
    assert (end.type, end.error_code, end.error_message) == ("failed", "generation_failed", "boom") and end.terminal

    queued = store.create(SPEC)
    store.request_cancel(queued.id)
    store.request_cancel(queued.id)  # already cancelled: no second event
    assert kinds(log, queued.id) == [(1, "queued", 0), (2, "cancelled", 0)]

    running = store.create(SPEC)
    store.claim("w1", 30)
    store.request_cancel(running.id)  # only flagged: the worker records the end
    assert [k for _, k, _ in kinds(log, running.id)] == ["queued", "in_progress"]
    store.mark_cancelled(running.id, "w1")
    assert log.for_job(running.id)[-1].error_code == "cancelled"

    deleted = store.create(SPEC)
    store.delete(deleted.id)
    assert [k for _, k, _ in kinds(log, deleted.id)] == ["queued", "cancelled"]


def test_release_and_expired_leases_record_what_became_of_the_job(store):
    log = EventLog(store.engine)
    job = store.create(SPEC, max_attempts=2)
    store.claim("w1", 30)
    assert store.release(job.id, "w1")
    claimed = store.claim("w2", 30)
    store.requeue_expired(now=expire(claimed))  # attempt 2 of 2 expired: failed
    assert [k for _, k, _ in kinds(log, job.id)] == ["queued", "in_progress", "queued", "in_progress", "failed"]
    assert log.for_job(job.id)[-1].error_code == "lease_expired"

    again = store.create(SPEC)
    claimed = store.claim("w1", 30)
    store.requeue_expired(now=expire(claimed))
    assert [k for _, k, _ in kinds(log, again.id)] == ["queued", "in_progress", "queued"]


def test_a_refused_transition_records_nothing(store):
    log = EventLog(store.engine)
    job = store.create(SPEC)
    store.claim("w1", 30)
    assert not store.complete(job.id, "someone-else", {})
    assert [k for _, k, _ in kinds(log, job.id)] == ["queued", "in_progress"]


def test_account_stream_is_isolated_and_ordered_under_concurrent_writers(store):
    log = EventLog(store.engine)
    other = store.create(SPEC, account="b")
    seen: list[int] = []
    done = threading.Event()

    def follow() -> None:
        # A reader that moves its cursor as it goes must never skip an id that commits later.
        after = 0
        while not done.is_set() or log.for_account("a", after=after):
            for e in log.for_account("a", after=after):
                seen.append(e.id)
                after = e.id

    reader = threading.Thread(target=follow)
    reader.start()
    run_threads(8, lambda i: [store.create(SPEC, account="a") for _ in range(10)])
    done.set()
    reader.join(30)
    ids = [e.id for e in log.for_account("a", limit=1000)]
    assert len(ids) == 80 and ids == sorted(ids)
    assert seen == ids  # every event seen, in order, none skipped
    assert other.id not in {e.job_id for e in log.for_account("a", limit=1000)}
    assert log.last_id("a") == ids[-1] and log.last_id("nobody") == 0


def test_prune_drops_old_events(store):
    log = EventLog(store.engine)
    job = store.create(SPEC)
    assert log.prune(older_than=job.created_at - 1) == 0
    assert log.prune(older_than=job.created_at + 1) == 1
    assert log.for_job(job.id) == []


def test_a_create_draws_its_event_id_only_under_the_accounts_ordering_lock(pg_store):
    """PostgreSQL queues a job in one statement (store.creates): its event must wait for the lock
    before taking an id, or a reader could pass over an id that commits after a larger one."""
    import sqlalchemy as sa

    from reelforge.store import events

    log = EventLog(pg_store.engine)
    with pg_store.engine.connect() as holder:
        events.lock_accounts(holder, ["a"])  # a writer of account a, mid-transaction
        result: list = []
        creating = threading.Thread(target=lambda: result.append(pg_store.create(SPEC, account="a")))
        creating.start()
        waiting = sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        with pg_store.engine.connect() as probe:
            for _ in range(300):
                if probe.execute(waiting).scalar():
                    break
                threading.Event().wait(0.01)
            else:
                raise AssertionError("the create never waited for the account's ordering lock")
        assert result == []  # blocked: nothing of it is visible yet
        # The holder's own event draws its id now, while the create waits.
        events.record(holder, job_id="0" * 32, account="a", type="queued", status="queued", progress=0,
                      locked=True, first=True)
        holder.commit()
    creating.join(30)
    ids = [(e.job_id, e.id) for e in log.for_account("a")]
    assert [job for job, _ in ids] == ["0" * 32, result[0].id]
    assert ids[0][1] < ids[1][1]
