"""The JobStore contract, run against a real SQLite file and a real PostgreSQL."""

from __future__ import annotations

import time
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from tests.store.conftest import run_threads

from reelforge.errors import InvalidRequest, JobNotFound
from reelforge.jobs import JobSpec, JobStatus, Task
from reelforge.store import Heartbeat, JobStore
from reelforge.store.tables import metadata

SPEC = JobSpec(
    model="reelforge-tiny", task=Task.T2V, prompt="a red fox in the snow", seed=7, num_inference_steps=4,
    guidance_scale=5.0, fps=8, num_frames=17, width=64, height=64, seconds=2,
)
GAVE_UP = "The worker running this job stopped responding 3 times (lease expired); giving up after 3 attempts."


def expire(job) -> float:
    """A moment just after the job's lease ran out."""
    return job.lease_expires_at + 1


# --- schema ---


def test_migrate_twice_keeps_data(store):
    job = store.create(SPEC)
    store.migrate()
    assert store.get(job.id) == job


def test_migrations_build_exactly_the_declared_tables(store):
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_concurrent_first_migrations_do_not_collide(store_url):
    stores = [JobStore(store_url) for _ in range(3)]
    try:
        run_threads(3, lambda i: stores[i].migrate())
        assert stores[0].create(SPEC).status is JobStatus.QUEUED
    finally:
        for s in stores:
            s.close()


def test_sqlite_file_gets_its_folder_wal_and_foreign_keys(tmp_path):
    store = JobStore(f"sqlite:///{tmp_path}/a/b/jobs.sqlite3")
    try:
        store.migrate()
        assert (tmp_path / "a" / "b" / "jobs.sqlite3").is_file()
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10000
    finally:
        store.close()


def test_in_memory_sqlite_is_refused():
    with pytest.raises(ValueError, match="SQLite file"):
        JobStore("sqlite://")


# --- create / get ---


def test_create_and_get_round_trip(store):
    spec = SPEC.replace(task=Task.I2V, negative_prompt="blurry", input_image="inputs/abc.png")
    before = time.time()
    job = store.create(spec, account="acct_1", surface="vyro", max_attempts=5, remixed_from="f" * 32)
    assert len(job.id) == 32 and int(job.id, 16) >= 0
    assert job.status is JobStatus.QUEUED and job.progress == 0 and job.attempts == 0
    assert (job.account, job.surface, job.max_attempts, job.remixed_from) == ("acct_1", "vyro", 5, "f" * 32)
    assert before <= job.created_at <= time.time()
    assert job.started_at is None and job.completed_at is None and job.error is None
    assert job.lease_owner is None and not job.cancel_requested and not job.deleted and job.result == {}
    got = store.get(job.id)
    assert got == job and got.spec == spec
    assert store.get(job.id, account="acct_1") == job


def test_ids_are_unique(store):
    assert len({store.create(SPEC).id for _ in range(20)}) == 20


@pytest.mark.parametrize("bad", ["", "nope", "x" * 32, "0" * 31, "0" * 33, "' OR '1'='1", "0" * 32])
def test_get_unknown_or_malformed_id_is_not_found(store, bad):
    store.create(SPEC)
    with pytest.raises(JobNotFound) as e:
        store.get(bad)
    assert e.value.code == "not_found"


def test_get_is_exact_about_case(store):
    job = store.create(SPEC)
    with pytest.raises(JobNotFound):
        store.get(job.id.upper())


def test_get_hides_other_accounts(store):
    job = store.create(SPEC, account="alice")
    with pytest.raises(JobNotFound):
        store.get(job.id, account="bob")
    assert store.get(job.id).account == "alice"


# --- list ---


def _pages(store, account: str, order: str, limit: int) -> list[tuple[list[str], bool]]:
    pages, after = [], None
    while True:
        page = store.list(account, after=after, limit=limit, order=order)
        pages.append(([j.id for j in page.jobs], page.has_more))
        if not page.has_more:
            return pages
        after = page.jobs[-1].id


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_list_paginates_in_creation_order(store, order):
    ids = [store.create(SPEC, account="alice").id for _ in range(25)]
    store.create(SPEC, account="bob")
    expected = ids if order == "asc" else ids[::-1]
    pages = _pages(store, "alice", order, 10)
    assert [has_more for _, has_more in pages] == [True, True, False]
    assert [len(p) for p, _ in pages] == [10, 10, 5]
    assert [i for p, _ in pages for i in p] == expected


def test_list_defaults_to_newest_first(store):
    ids = [store.create(SPEC).id for _ in range(3)]
    page = store.list("local")
    assert [j.id for j in page.jobs] == ids[::-1] and page.has_more is False


def test_list_exact_fit_has_no_more(store):
    ids = [store.create(SPEC).id for _ in range(20)]
    assert _pages(store, "local", "asc", 10) == [(ids[:10], True), (ids[10:], False)]
    assert _pages(store, "local", "asc", 20) == [(ids, False)]


def test_list_isolates_accounts_and_hides_deleted(store):
    a = [store.create(SPEC, account="alice").id for _ in range(3)]
    b = store.create(SPEC, account="bob").id
    store.delete(a[1])
    assert [j.id for j in store.list("alice", order="asc").jobs] == [a[0], a[2]]
    assert [j.id for j in store.list("bob").jobs] == [b]
    assert store.list("carol").jobs == []


def test_list_cursor_must_be_own_job(store):
    mine = store.create(SPEC, account="alice")
    theirs = store.create(SPEC, account="bob")
    with pytest.raises(JobNotFound):
        store.list("alice", after=theirs.id)
    with pytest.raises(JobNotFound):
        store.list("alice", after=uuid.uuid4().hex)
    with pytest.raises(JobNotFound):
        store.list("alice", after="not-an-id")
    assert store.list("alice", after=mine.id).jobs == []


def test_list_cursor_survives_deleting_it(store):
    ids = [store.create(SPEC).id for _ in range(4)]
    store.delete(ids[1])
    assert [j.id for j in store.list("local", after=ids[1], order="asc").jobs] == ids[2:]


def test_list_rejects_bad_order_and_limit(store):
    with pytest.raises(InvalidRequest) as e:
        store.list("local", order="sideways")
    assert e.value.param == "order"
    with pytest.raises(InvalidRequest) as e:
        store.list("local", limit=0)
    assert e.value.param == "limit"


# --- claim / heartbeat / finish ---


def test_claim_takes_oldest_and_opens_an_attempt(store):
    first, second = store.create(SPEC), store.create(SPEC)
    before = time.time()
    job = store.claim("w1", lease_seconds=30)
    assert job.id == first.id
    assert job.status is JobStatus.IN_PROGRESS and job.attempts == 1 and job.lease_owner == "w1"
    assert before + 30 <= job.lease_expires_at <= time.time() + 30
    assert before <= job.started_at <= time.time()
    assert store.get(first.id) == job
    [attempt] = store.attempts(job.id)
    assert (attempt.number, attempt.worker_id, attempt.ended_at, attempt.outcome) == (1, "w1", None, None)
    assert store.claim("w2", 30).id == second.id
    assert store.claim("w3", 30) is None


def test_claim_skips_cancelled_and_deleted(store):
    cancelled, deleted, ready = store.create(SPEC), store.create(SPEC), store.create(SPEC)
    store.request_cancel(cancelled.id)
    store.delete(deleted.id)
    assert store.claim("w1", 30).id == ready.id
    assert store.claim("w1", 30) is None


def test_heartbeat_extends_lease_and_progress_never_decreases(store):
    store.create(SPEC)
    job = store.claim("w1", lease_seconds=5)
    assert store.heartbeat(job.id, "w1", progress=50, lease_seconds=600) == Heartbeat(True, False)
    after = store.get(job.id)
    assert after.progress == 50 and after.lease_expires_at > job.lease_expires_at + 500
    store.heartbeat(job.id, "w1", progress=30, lease_seconds=600)
    assert store.get(job.id).progress == 50
    store.heartbeat(job.id, "w1", progress=None, lease_seconds=600)
    assert store.get(job.id).progress == 50
    store.heartbeat(job.id, "w1", progress=250, lease_seconds=600)
    assert store.get(job.id).progress == 100


def test_heartbeat_records_the_eta_and_leaving_the_run_clears_it(store):
    store.create(SPEC)
    job = store.claim("w1", lease_seconds=30)
    assert job.eta_at is None
    store.heartbeat(job.id, "w1", progress=10, lease_seconds=30, eta_at=1234.5)
    assert store.get(job.id).eta_at == 1234.5
    store.heartbeat(job.id, "w1", lease_seconds=30)  # no new estimate keeps the last one
    assert store.get(job.id).eta_at == 1234.5
    store.release(job.id, "w1")
    assert store.get(job.id).eta_at is None
    job = store.claim("w1", lease_seconds=30)
    store.heartbeat(job.id, "w1", lease_seconds=30, eta_at=99.0)
    assert store.complete(job.id, "w1", {"artifacts": {}})
    assert store.get(job.id).eta_at is None


def test_heartbeat_from_a_stranger_is_not_owned_and_changes_nothing(store):
    store.create(SPEC)
    job = store.claim("w1", 30)
    assert store.heartbeat(job.id, "w2", progress=80, lease_seconds=600) == Heartbeat(False, False)
    assert store.get(job.id) == job
    queued = store.create(SPEC)
    assert store.heartbeat(queued.id, "w1", progress=10, lease_seconds=600).owned is False


def test_complete_stores_result_and_closes_attempt(store):
    store.create(SPEC)
    job = store.claim("w1", 30)
    store.heartbeat(job.id, "w1", progress=40, lease_seconds=30)
    result = {"video": "jobs/x/video.mp4", "frames": 17, "fps": 8, "timings": {"generate": 1.5}, "ok": True}
    assert store.complete(job.id, "w2", {"video": "stolen"}) is False
    assert store.complete(job.id, "w1", result) is True
    done = store.get(job.id)
    assert done.status is JobStatus.COMPLETED and done.progress == 100 and done.result == result
    assert done.lease_owner is None and done.lease_expires_at is None and done.error is None
    assert done.completed_at >= done.started_at
    [attempt] = store.attempts(job.id)
    assert attempt.outcome == "completed" and attempt.ended_at == done.completed_at
    assert store.complete(job.id, "w1", {"again": 1}) is False
    assert store.fail(job.id, "w1", "boom", "late") is False
    assert store.get(job.id) == done


def test_fail_records_the_error(store):
    store.create(SPEC)
    job = store.claim("w1", 30)
    assert store.fail(job.id, "w2", "generation_failed", "not yours") is False
    assert store.fail(job.id, "w1", "generation_failed", "CUDA out of memory at 1024x1024.") is True
    failed = store.get(job.id)
    assert failed.status is JobStatus.FAILED and failed.completed_at is not None
    assert (failed.error.code, failed.error.message) == ("generation_failed", "CUDA out of memory at 1024x1024.")
    assert [a.outcome for a in store.attempts(job.id)] == ["failed"]
    assert store.requeue_expired(now=time.time() + 10_000).failed == []


def test_zombie_worker_is_fenced_after_requeue(store):
    store.create(SPEC)
    job = store.claim("w1", lease_seconds=5)
    store.heartbeat(job.id, "w1", progress=60, lease_seconds=5)
    fresh = store.get(job.id)
    assert store.requeue_expired(now=expire(fresh)).requeued == [job.id]
    requeued = store.get(job.id)
    assert requeued.status is JobStatus.QUEUED and requeued.progress == 0 and requeued.lease_owner is None
    assert store.heartbeat(job.id, "w1", progress=70, lease_seconds=30).owned is False
    assert store.complete(job.id, "w1", {"video": "zombie"}) is False
    again = store.claim("w2", 30)
    assert again.id == job.id and again.attempts == 2 and again.progress == 0
    assert again.started_at == job.started_at  # the first start is kept across attempts
    assert store.complete(job.id, "w1", {"video": "zombie"}) is False
    assert store.mark_cancelled(job.id, "w1") is False
    assert store.complete(job.id, "w2", {"video": "real"}) is True
    assert store.get(job.id).result == {"video": "real"}
    assert [(a.number, a.worker_id, a.outcome) for a in store.attempts(job.id)] == [
        (1, "w1", "expired"), (2, "w2", "completed"),
    ]


def test_requeue_until_max_attempts_then_fail(store):
    store.create(SPEC, max_attempts=3)
    for n in (1, 2):
        job = store.claim(f"w{n}", 1)
        assert job.attempts == n
        result = store.requeue_expired(now=expire(job))
        assert (result.requeued, result.failed, result.cancelled) == ([job.id], [], [])
    job = store.claim("w3", 1)
    result = store.requeue_expired(now=expire(job))
    assert (result.requeued, result.failed, result.cancelled) == ([], [job.id], [])
    failed = store.get(job.id)
    assert failed.status is JobStatus.FAILED and failed.attempts == 3
    assert failed.error.code == "lease_expired" and failed.error.message == GAVE_UP
    assert failed.completed_at is not None and failed.lease_owner is None
    attempts = store.attempts(job.id)
    assert [(a.number, a.worker_id, a.outcome) for a in attempts] == [
        (1, "w1", "expired"), (2, "w2", "expired"), (3, "w3", "expired"),
    ]
    assert all(a.ended_at is not None for a in attempts)
    assert store.claim("w4", 1) is None


def test_requeue_leaves_live_leases_alone(store):
    store.create(SPEC)
    job = store.claim("w1", lease_seconds=60)
    result = store.requeue_expired()
    assert (result.requeued, result.failed, result.cancelled) == ([], [], [])
    assert store.get(job.id) == job
    assert store.requeue_expired(now=job.lease_expires_at - 0.5).requeued == []


def test_requeue_of_a_cancel_requested_job_cancels_it(store):
    store.create(SPEC)
    job = store.claim("w1", 1)
    store.request_cancel(job.id)
    assert store.requeue_expired(now=expire(job)).cancelled == [job.id]
    cancelled = store.get(job.id)
    assert cancelled.status is JobStatus.CANCELLED and cancelled.error.code == "cancelled"
    assert store.attempts(job.id)[0].outcome == "expired"
    assert store.claim("w2", 1) is None


# --- cancel / delete ---


def test_cancel_queued_is_immediate(store):
    job = store.create(SPEC, account="alice")
    with pytest.raises(JobNotFound):
        store.request_cancel(job.id, account="bob")
    cancelled = store.request_cancel(job.id, account="alice")
    assert cancelled.status is JobStatus.CANCELLED and cancelled.completed_at is not None
    assert (cancelled.error.code, cancelled.error.message) == ("cancelled", "Cancelled by request.")
    assert store.get(job.id) == cancelled
    assert store.claim("w1", 30) is None
    assert store.attempts(job.id) == []


def test_cancel_in_progress_goes_through_the_worker(store):
    store.create(SPEC)
    job = store.claim("w1", 30)
    flagged = store.request_cancel(job.id)
    assert flagged.status is JobStatus.IN_PROGRESS and flagged.cancel_requested and flagged.error is None
    assert store.heartbeat(job.id, "w1", progress=10, lease_seconds=30) == Heartbeat(True, True)
    assert store.mark_cancelled(job.id, "w2") is False
    assert store.mark_cancelled(job.id, "w1") is True
    cancelled = store.get(job.id)
    assert cancelled.status is JobStatus.CANCELLED and cancelled.lease_owner is None
    assert (cancelled.error.code, cancelled.error.message) == ("cancelled", "Cancelled by request.")
    assert [a.outcome for a in store.attempts(job.id)] == ["cancelled"]


def test_cancel_of_a_finished_job_changes_nothing(store):
    store.create(SPEC)
    job = store.claim("w1", 30)
    store.complete(job.id, "w1", {"video": "v.mp4"})
    done = store.get(job.id)
    assert store.request_cancel(job.id) == done
    assert store.get(job.id) == done


def test_cancel_unknown_job_is_not_found(store):
    with pytest.raises(JobNotFound):
        store.request_cancel(uuid.uuid4().hex)
    with pytest.raises(JobNotFound):
        store.request_cancel("garbage")


def test_delete_queued_cancels_and_hides(store):
    job = store.create(SPEC, account="alice")
    with pytest.raises(JobNotFound):
        store.delete(job.id, account="bob")
    deleted = store.delete(job.id, account="alice")
    assert deleted.deleted and deleted.status is JobStatus.CANCELLED
    with pytest.raises(JobNotFound):
        store.get(job.id)
    with pytest.raises(JobNotFound):
        store.delete(job.id)
    with pytest.raises(JobNotFound):
        store.request_cancel(job.id)
    assert store.list("alice").jobs == []
    assert store.claim("w1", 30) is None


def test_delete_in_progress_asks_the_worker_to_stop(store):
    store.create(SPEC)
    job = store.claim("w1", 30)
    deleted = store.delete(job.id)
    assert deleted.deleted and deleted.status is JobStatus.IN_PROGRESS and deleted.cancel_requested
    assert store.heartbeat(job.id, "w1", progress=50, lease_seconds=30) == Heartbeat(True, True)
    assert store.mark_cancelled(job.id, "w1") is True
    assert [a.outcome for a in store.attempts(job.id)] == ["cancelled"]  # the audit survives deletion


def test_delete_finished_job_keeps_its_outcome(store):
    store.create(SPEC)
    job = store.claim("w1", 30)
    store.fail(job.id, "w1", "generation_failed", "boom")
    deleted = store.delete(job.id)
    assert deleted.deleted and deleted.status is JobStatus.FAILED and not deleted.cancel_requested
    assert deleted.error.code == "generation_failed"


def test_counts_by_status_without_deleted(store):
    assert store.counts() == {"queued": 0, "in_progress": 0, "completed": 0, "failed": 0, "cancelled": 0}
    ids = [store.create(SPEC).id for _ in range(6)]
    a, b, c = store.claim("w", 30), store.claim("w", 30), store.claim("w", 30)
    store.complete(a.id, "w", {})
    store.fail(b.id, "w", "x", "y")
    store.request_cancel(ids[3])
    store.delete(ids[4])
    assert store.counts() == {"queued": 1, "in_progress": 1, "completed": 1, "failed": 1, "cancelled": 1}
    assert store.get(c.id).status is JobStatus.IN_PROGRESS


# --- concurrency ---


def test_concurrent_claims_never_share_a_job(store, store_url):
    ids = {store.create(SPEC).id for _ in range(60)}
    # Half the threads share one engine (the API's threads), half have their own (separate processes).
    stores = [store, store, JobStore(store_url), JobStore(store_url)]

    def drain(i: int) -> list[str]:
        got = []
        while (job := stores[i].claim(f"w{i}", 30)) is not None:
            got.append(job.id)
        return got

    try:
        claimed = run_threads(4, drain)
    finally:
        stores[2].close()
        stores[3].close()
    flat = [job_id for got in claimed for job_id in got]
    assert len(flat) == len(set(flat)) == 60 and set(flat) == ids
    for i, got in enumerate(claimed):
        for job_id in got:
            assert [(a.number, a.worker_id) for a in store.attempts(job_id)] == [(1, f"w{i}")]
    assert store.counts()["in_progress"] == 60


def test_concurrent_requeuers_handle_each_job_once(store, store_url):
    for _ in range(30):
        store.create(SPEC)
    claimed = [store.claim("w", 1) for _ in range(30)]
    later = max(j.lease_expires_at for j in claimed) + 1
    stores = [store, JobStore(store_url), JobStore(store_url), JobStore(store_url)]
    try:
        results = run_threads(4, lambda i: stores[i].requeue_expired(now=later))
    finally:
        for s in stores[1:]:
            s.close()
    requeued = [job_id for r in results for job_id in r.requeued]
    assert sorted(requeued) == sorted(j.id for j in claimed)
    assert all(r.failed == [] and r.cancelled == [] for r in results)
    assert store.counts()["queued"] == 30
    assert all([a.outcome for a in store.attempts(j.id)] == ["expired"] for j in claimed)


def test_complete_is_refused_once_a_cancel_was_requested(store):
    store.create(SPEC)
    job = store.claim("w1", 30)
    store.request_cancel(job.id)
    assert store.complete(job.id, "w1", {"artifacts": {}}) is False
    assert store.get(job.id).status is JobStatus.IN_PROGRESS
    assert store.mark_cancelled(job.id, "w1") is True


def test_release_hands_the_job_back_and_keeps_the_audit(store):
    store.create(SPEC)
    job = store.claim("w1", 30)
    store.heartbeat(job.id, "w1", progress=40, lease_seconds=30)
    assert store.release(job.id, "w2") is False
    assert store.release(job.id, "w1") is True
    back = store.get(job.id)
    assert back.status is JobStatus.QUEUED and back.lease_owner is None and back.progress == 0
    again = store.claim("w2", 30)
    assert again.id == job.id and again.attempts == 2
    assert [a.outcome for a in store.attempts(job.id)] == ["released", None]


def test_has_queued_sees_only_queued_jobs(store):
    assert store.has_queued() is False
    store.create(SPEC)
    assert store.has_queued() is True
    store.claim("w1", 30)
    assert store.has_queued() is False
