"""The webhook outbox on a real SQLite file and a real PostgreSQL: deliveries are put in by the
transaction that ends a job, claimed under a lease that counts the attempt, and recorded."""

from __future__ import annotations

import time

import pytest
from tests.store.conftest import run_threads

from reelforge.jobs import JobSpec, Task
from reelforge.store import DeliveryNotFound, Outbox, WebhookEndpoints

SPEC = JobSpec(
    model="reelforge-tiny", task=Task.T2V, prompt="a red fox in the snow", seed=7, num_inference_steps=4,
    guidance_scale=5.0, fps=8, num_frames=17, width=64, height=64, seconds=2,
)
BOTH = ["video.completed", "video.failed"]
LEASE = 30.0


@pytest.fixture
def outbox(store):
    return Outbox(store)


@pytest.fixture
def endpoints(store):
    return WebhookEndpoints(store)


def endpoint(endpoints, account="acct_a", *, events=BOTH, url="https://hooks.example/a"):
    return endpoints.create(account, name="hook", url=url, event_types=events, secret="whsec_c2VjcmV0c2VjcmV0")


def end_job(store, status, *, account="acct_a", extras=None):
    """A job created, claimed and ended with ``status`` as a worker would."""
    job = store.create(SPEC.replace(extras=extras or {}), account=account)
    assert store.claim("w1", LEASE).id == job.id
    if status == "completed":
        assert store.complete(job.id, "w1", {"artifacts": {}})
    elif status == "failed":
        assert store.fail(job.id, "w1", "generation_failed", "boom")
    else:
        store.request_cancel(job.id)
        assert store.mark_cancelled(job.id, "w1")
    return job


def deliveries(outbox, account="acct_a", **filters):
    return outbox.list(account, limit=100, **filters)[0]


# --- what the end of a job puts in ---


def test_a_completed_job_enqueues_one_delivery_per_subscribed_active_endpoint(store, outbox, endpoints):
    both = endpoint(endpoints)
    failed_only = endpoint(endpoints, events=["video.failed"])
    disabled = endpoint(endpoints)
    endpoints.disable(disabled.id, "gone")
    deleted = endpoint(endpoints)
    endpoints.delete(deleted.id, "acct_a")
    endpoint(endpoints, "acct_b")  # another account's
    before = time.time()
    job = end_job(store, "completed")

    (d,) = deliveries(outbox)
    assert (d.endpoint_id, d.url, d.kind, d.event_type, d.job_id) == (both.id, both.url, "openai", "video.completed",
                                                                      job.id)
    assert d.id.startswith("msg_") and d.event_id.startswith("evt_")
    assert (d.status, d.attempts, d.body, d.payload, d.lease_owner) == ("pending", 0, None, None, None)
    assert before <= d.next_attempt_at <= time.time()
    assert deliveries(outbox, "acct_b") == []
    assert failed_only.id not in {x.endpoint_id for x in deliveries(outbox)}


@pytest.mark.parametrize("status", ["failed", "cancelled"])
def test_failed_and_cancelled_jobs_enqueue_video_failed(store, outbox, endpoints, status):
    both = endpoint(endpoints)
    failed_only = endpoint(endpoints, events=["video.failed"])
    endpoint(endpoints, events=["video.completed"])
    job = end_job(store, status)
    got = deliveries(outbox)
    assert {(d.endpoint_id, d.event_type, d.job_id) for d in got} == {
        (both.id, "video.failed", job.id), (failed_only.id, "video.failed", job.id)}


def test_a_queued_job_cancelled_by_its_owner_enqueues_once(store, outbox, endpoints):
    endpoint(endpoints)
    job = store.create(SPEC, account="acct_a")
    store.request_cancel(job.id, "acct_a")
    store.request_cancel(job.id, "acct_a")  # a second cancel changes nothing
    (d,) = deliveries(outbox)
    assert (d.event_type, d.job_id) == ("video.failed", job.id)


def test_a_job_whose_worker_vanished_for_good_enqueues_video_failed(store, outbox, endpoints):
    endpoint(endpoints)
    job = store.create(SPEC, account="acct_a", max_attempts=1)
    claimed = store.claim("w1", LEASE)
    result = store.requeue_expired(now=claimed.lease_expires_at + 1)
    assert result.failed == [job.id]
    (d,) = deliveries(outbox)
    assert (d.event_type, d.job_id) == ("video.failed", job.id)


def test_no_delivery_without_the_end_of_the_job(store, outbox, endpoints):
    """The delivery is written by the same statement's transaction: a fenced-off worker's complete
    (its lease was taken away) changes nothing, so nothing is delivered either."""
    endpoint(endpoints)
    job = store.create(SPEC, account="acct_a")
    store.claim("w1", LEASE)
    assert not store.complete(job.id, "someone-else", {"artifacts": {}})
    assert deliveries(outbox) == []
    assert store.complete(job.id, "w1", {"artifacts": {}})
    assert len(deliveries(outbox)) == 1


def test_a_per_request_webhook_is_enqueued_as_novita_unless_in_test_mode(store, outbox):
    job = end_job(store, "completed", extras={"webhook": {"url": "https://hooks.example/novita"}})
    end_job(store, "completed", extras={"webhook": {"url": "https://hooks.example/t", "test_mode": {"enabled": True}}})
    end_job(store, "failed", extras={"webhook": {}})
    (d,) = deliveries(outbox)
    assert (d.kind, d.event_type, d.url, d.endpoint_id, d.job_id) == (
        "novita", "ASYNC_TASK_RESULT", "https://hooks.example/novita", None, job.id)


# --- claims and leases ---


def test_a_claim_takes_a_lease_and_counts_the_attempt(store, outbox, endpoints):
    endpoint(endpoints)
    end_job(store, "completed")
    now = time.time()
    (d,) = outbox.claim("d1", lease_seconds=LEASE, now=now)
    assert (d.lease_owner, d.lease_expires_at, d.attempts) == ("d1", now + LEASE, 1)
    assert outbox.claim("d2", lease_seconds=LEASE, now=now + 1) == []  # held
    # The holder died mid-POST: once the lease lapses another deliverer takes it, a second attempt.
    (again,) = outbox.claim("d2", lease_seconds=LEASE, now=now + LEASE + 1)
    assert (again.id, again.lease_owner, again.attempts) == (d.id, "d2", 2)
    # The first holder's late answer is fenced off: nothing it reports is written.
    assert not outbox.finish_attempt(d, "d1", started_at=now, duration_ms=5, status_code=200, error=None,
                                     outcome="delivered")
    assert outbox.get(d.id).status == "pending" and outbox.attempts(d.id) == []


def test_claims_take_only_due_deliveries_oldest_due_first_up_to_the_limit(store, outbox):
    now = time.time()
    ids = [outbox.add("acct_a", "https://hooks.example/x", "openai", "video.completed", payload={"n": i}).id
           for i in range(3)]
    first = outbox.claim("d1", lease_seconds=LEASE, limit=1)
    assert [d.id for d in first] == ids[:1]
    outbox.finish_attempt(first[0], "d1", started_at=now, duration_ms=1, status_code=500, error="HTTP 500",
                          outcome="pending", next_attempt_at=now + 60)
    rest = outbox.claim("d1", lease_seconds=LEASE)
    assert [d.id for d in rest] == ids[1:]
    assert outbox.claim("d2", lease_seconds=LEASE) == []  # the first waits for its retry
    for d in rest:
        outbox.finish_attempt(d, "d1", started_at=now, duration_ms=1, status_code=200, error=None, outcome="delivered")
    assert [d.id for d in outbox.claim("d2", lease_seconds=LEASE, now=now + 61)] == ids[:1]


def test_concurrent_claimers_never_share_a_delivery(store, outbox):
    for i in range(12):
        outbox.add("acct_a", "https://hooks.example/x", "openai", "video.completed", payload={"n": i})
    claimed = run_threads(4, lambda i: [d.id for d in outbox.claim(f"d{i}", lease_seconds=LEASE, limit=12)])
    every = [d for batch in claimed for d in batch]
    assert len(every) == len(set(every)) == 12


def test_claiming_one_delivery_by_id_ignores_its_due_time_but_not_a_lease(store, outbox):
    now = time.time()
    d = outbox.add("acct_a", "https://hooks.example/x", "openai", "video.completed", payload={})
    (claimed,) = outbox.claim("d1", lease_seconds=LEASE, delivery_id=d.id)
    outbox.finish_attempt(claimed, "d1", started_at=now, duration_ms=1, status_code=500, error="HTTP 500",
                          outcome="pending", next_attempt_at=now + 3600)
    (again,) = outbox.claim("d2", lease_seconds=LEASE, delivery_id=d.id)
    assert again.attempts == 2
    assert outbox.claim("d3", lease_seconds=LEASE, delivery_id=d.id) == []


# --- attempts and outcomes ---


def test_each_attempt_is_recorded_and_the_outcome_ends_or_reschedules(store, outbox):
    d = outbox.add("acct_a", "https://hooks.example/x", "openai", "video.completed", payload={})
    now = time.time()
    (c,) = outbox.claim("d1", lease_seconds=LEASE)
    assert outbox.finish_attempt(c, "d1", started_at=now, duration_ms=12, status_code=500, error="HTTP 500",
                                 outcome="pending", next_attempt_at=now + 0.01)
    row = outbox.get(d.id)
    assert (row.status, row.next_attempt_at, row.lease_owner, row.last_status_code, row.finished_at) == (
        "pending", now + 0.01, None, 500, None)
    (c,) = outbox.claim("d1", lease_seconds=LEASE, now=now + 1)
    assert outbox.finish_attempt(c, "d1", started_at=now + 1, duration_ms=3, status_code=None,
                                 error="timed out after 15 s", outcome="pending", next_attempt_at=now + 2)
    (c,) = outbox.claim("d1", lease_seconds=LEASE, now=now + 3)
    assert outbox.finish_attempt(c, "d1", started_at=now + 3, duration_ms=4, status_code=204, error=None,
                                 outcome="delivered")
    row = outbox.get(d.id)
    assert (row.status, row.attempts, row.next_attempt_at, row.last_status_code, row.last_error) == (
        "delivered", 3, None, 204, None)
    assert row.finished_at is not None
    assert [(a.number, a.status_code, a.error, a.duration_ms) for a in outbox.attempts(d.id)] == [
        (1, 500, "HTTP 500", 12), (2, None, "timed out after 15 s", 3), (3, 204, None, 4)]
    assert outbox.claim("d1", lease_seconds=LEASE, now=now + 10) == []
    assert outbox.claim("d1", lease_seconds=LEASE, delivery_id=d.id) == []  # finished for good
    assert outbox.next_due() is None


def test_an_unknown_outcome_is_refused(store, outbox):
    outbox.add("acct_a", "https://hooks.example/x", "openai", "video.completed", payload={})
    (c,) = outbox.claim("d1", lease_seconds=LEASE)
    with pytest.raises(ValueError, match="outcome"):
        outbox.finish_attempt(c, "d1", started_at=0, duration_ms=0, status_code=200, error=None, outcome="done")


def test_the_first_rendered_body_is_kept_for_every_retry(store, outbox):
    d = outbox.add("acct_a", "https://hooks.example/x", "openai", "video.completed")
    assert outbox.freeze_body(d.id, '{"v":1}') == '{"v":1}'
    assert outbox.freeze_body(d.id, '{"v":2}') == '{"v":1}'
    assert outbox.get(d.id).body == '{"v":1}'


def test_next_due_is_the_earliest_pending(store, outbox):
    assert outbox.next_due() is None
    now = time.time()
    a = outbox.add("acct_a", "https://hooks.example/x", "openai", "video.completed", payload={})
    outbox.add("acct_a", "https://hooks.example/y", "openai", "video.completed", payload={})
    assert outbox.next_due() == a.next_attempt_at
    (c,) = outbox.claim("d1", lease_seconds=LEASE, limit=1)
    outbox.finish_attempt(c, "d1", started_at=now, duration_ms=1, status_code=200, error=None, outcome="delivered")
    assert outbox.next_due() > a.next_attempt_at


# --- reading, isolation, pruning ---


def test_lists_are_newest_first_paged_filtered_and_per_account(store, outbox, endpoints):
    e = endpoint(endpoints)
    jobs = [end_job(store, "completed") for _ in range(3)]
    other = outbox.add("acct_a", "https://hooks.example/t", "openai", "video.completed", payload={})
    foreign = outbox.add("acct_b", "https://hooks.example/b", "openai", "video.completed", payload={})
    page, more = outbox.list("acct_a", limit=2)
    assert [d.id for d in page][0] == other.id and more
    rest, more = outbox.list("acct_a", after=page[-1].id, limit=10)
    assert not more and len(page) + len(rest) == 4
    assert [d.job_id for d in page[1:] + rest] == [j.id for j in reversed(jobs)]
    assert {d.job_id for d in deliveries(outbox, endpoint_id=e.id)} == {j.id for j in jobs}
    assert [d.job_id for d in deliveries(outbox, job_id=jobs[0].id)] == [jobs[0].id]
    assert [d.id for d in deliveries(outbox, "acct_b")] == [foreign.id]
    assert outbox.get(foreign.id, "acct_b").id == foreign.id
    with pytest.raises(DeliveryNotFound):
        outbox.get(foreign.id, "acct_a")
    with pytest.raises(DeliveryNotFound):
        outbox.list("acct_a", after=foreign.id)


def test_prune_forgets_finished_deliveries_with_their_attempts_and_keeps_pending_ones(store, outbox):
    done = outbox.add("acct_a", "https://hooks.example/x", "openai", "video.completed", payload={})
    waiting = outbox.add("acct_a", "https://hooks.example/y", "openai", "video.completed", payload={})
    now = time.time()
    for c in outbox.claim("d1", lease_seconds=LEASE):
        if c.id == done.id:
            outbox.finish_attempt(c, "d1", started_at=now, duration_ms=1, status_code=410, error="HTTP 410",
                                  outcome="failed")
        else:
            outbox.finish_attempt(c, "d1", started_at=now, duration_ms=1, status_code=500, error="HTTP 500",
                                  outcome="pending", next_attempt_at=now + 60)
    assert outbox.prune(older_than=now - 60) == 0  # finished just now: kept
    assert outbox.prune(older_than=time.time() + 1) == 1
    with pytest.raises(DeliveryNotFound):
        outbox.get(done.id)
    assert outbox.attempts(done.id) == []
    assert outbox.get(waiting.id).status == "pending" and len(outbox.attempts(waiting.id)) == 1
