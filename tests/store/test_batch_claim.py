"""The batch claim: the oldest queued job and, in the same transaction, the queued jobs that may share
its pipeline call; each with its own lease and attempt. On a real SQLite file and a real PostgreSQL."""

from __future__ import annotations

import time

import pytest
from tests.store.conftest import run_threads
from tests.store.test_contract import SPEC

from reelforge.jobs import JobStatus, Task
from reelforge.store import AccountStore, EventLog
from reelforge.store.batches import batch_key


def four(spec) -> int:
    return 4


def test_claims_the_oldest_and_the_compatible_jobs_after_it_each_with_its_own_attempt(store):
    head = store.create(SPEC)
    other_steps = store.create(SPEC.replace(num_inference_steps=5))
    mates = [store.create(SPEC.replace(prompt=f"prompt {i}", seed=i, negative_prompt="blur" if i else None))
             for i in range(2)]
    other_size = store.create(SPEC.replace(width=128))
    other_model = store.create(SPEC.replace(model="ltx-tiny-random"))
    last_mate = store.create(SPEC.replace(style="anime", seed=99))
    spare = store.create(SPEC.replace(seed=100))  # compatible, but the batch is full

    before = time.time()
    batch = store.claim_batch("w1", 30, four)
    assert [j.id for j in batch] == [head.id, mates[0].id, mates[1].id, last_mate.id]
    for job in batch:
        assert job.status is JobStatus.IN_PROGRESS and job.lease_owner == "w1" and job.attempts == 1
        assert before + 30 <= job.lease_expires_at <= time.time() + 30
        assert store.get(job.id) == job
    attempts = [store.attempts(j.id) for j in batch]
    assert all(len(a) == 1 and a[0].worker_id == "w1" and a[0].outcome is None for a in attempts)
    assert len({a[0].batch_id for a in attempts}) == 1 and attempts[0][0].batch_id is not None
    assert {a[0].batch_size for a in attempts} == {4}
    events = EventLog(store.engine)
    assert all([e.type for e in events.for_job(j.id)] == ["queued", "in_progress"] for j in batch)

    for job in (other_steps, other_size, other_model, spare):
        assert store.get(job.id).status is JobStatus.QUEUED
    # The next claim starts from the oldest job left, which runs alone: nothing queued matches it.
    alone = store.claim_batch("w2", 30, four)
    assert [j.id for j in alone] == [other_steps.id]
    [attempt] = store.attempts(other_steps.id)
    assert (attempt.batch_id, attempt.batch_size) == (None, 1)


def test_every_job_of_a_batch_finishes_on_its_own(store):
    acct, _ = AccountStore(store).create("bob", credits=30, rate_limit=30, rate_window=60)
    jobs = [store.create(SPEC.replace(seed=i), account=acct.id, charge=5) for i in range(3)]
    done, failed, cancelled = store.claim_batch("w1", 30, four)
    assert store.complete(done.id, "w1", {"artifacts": {}})
    assert store.fail(failed.id, "w1", "generation_failed", "sample 2 produced NaN pixels")
    store.request_cancel(cancelled.id)
    assert store.mark_cancelled(cancelled.id, "w1")
    assert [store.get(j.id).status for j in jobs] == [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED]
    assert [store.attempts(j.id)[0].outcome for j in jobs] == ["completed", "failed", "cancelled"]
    assert AccountStore(store).get(acct.id).credits == 30 - 15 + 10  # the failed and the cancelled one refunded


def test_without_a_limit_or_with_a_limit_of_one_a_claim_takes_one_job(store):
    a, b, c = (store.create(SPEC.replace(seed=i)) for i in range(3))
    assert [j.id for j in store.claim_batch("w1", 30)] == [a.id]
    assert [j.id for j in store.claim_batch("w1", 30, lambda spec: 1)] == [b.id]
    assert store.claim("w1", 30).id == c.id
    assert store.claim_batch("w1", 30, four) == []


def test_edits_extensions_keyframes_and_multi_prompt_jobs_run_alone(store):
    edit = SPEC.replace(task=Task.EDIT, input_video="inputs/a.mp4", strength=0.5)
    kinds = [edit, edit, SPEC.replace(task=Task.EXTEND, input_video="inputs/b.mp4"),
             SPEC.replace(task=Task.I2V, input_image="inputs/a.png", last_image="inputs/z.png"),
             SPEC.replace(segments=(("one", 9), ("two", 8)))]
    for spec in kinds:
        assert batch_key(spec) is None
    made = [store.create(s) for s in kinds]
    store.create(SPEC)
    for job in made:
        assert [j.id for j in store.claim_batch("w1", 30, four)] == [job.id]


def test_image_to_video_batches_with_image_to_video_only(store):
    t2v = store.create(SPEC)
    i2v = [store.create(SPEC.replace(task=Task.I2V, input_image=f"inputs/{i}.png", seed=i)) for i in range(2)]
    assert [j.id for j in store.claim_batch("w1", 30, four)] == [t2v.id]
    assert [j.id for j in store.claim_batch("w1", 30, four)] == [j.id for j in i2v]


def test_queued_jobs_cancelled_or_deleted_are_not_claimed_into_a_batch(store):
    head, cancelled, deleted, mate = (store.create(SPEC.replace(seed=i)) for i in range(4))
    store.request_cancel(cancelled.id)
    store.delete(deleted.id)
    assert [j.id for j in store.claim_batch("w1", 30, four)] == [head.id, mate.id]


def test_the_limit_comes_from_the_oldest_job(store):
    head = store.create(SPEC)
    rest = [store.create(SPEC.replace(seed=i)) for i in range(3)]
    seen = []

    def limit(spec):
        seen.append(spec)
        return 2

    assert [j.id for j in store.claim_batch("w1", 30, limit)] == [head.id, rest[0].id]
    assert seen == [head.spec]


def test_peek_reports_what_a_claim_would_take_without_claiming(store):
    assert store.peek_batch(four) is None
    head = store.create(SPEC)
    store.create(SPEC.replace(num_inference_steps=9))
    store.create(SPEC.replace(seed=3))
    peek = store.peek_batch(four)
    assert (peek.created_at, peek.ready, peek.wanted) == (head.created_at, 2, 4)
    assert store.counts()["queued"] == 3
    assert store.peek_batch(lambda spec: 1).ready == 1


def test_concurrent_batch_claims_never_share_a_job(store):
    """Six workers claim at once over 24 compatible jobs: every job is claimed exactly once, in
    batches of at most four (on PostgreSQL, SKIP LOCKED keeps the workers off each other's rows)."""
    made = {store.create(SPEC.replace(seed=i)).id for i in range(24)}

    def drain(i: int) -> list[list[str]]:
        taken = []
        while batch := store.claim_batch(f"w{i}", 30, four):
            taken.append([j.id for j in batch])
        return taken

    batches = [b for worker in run_threads(6, drain) for b in worker]
    claimed = [job for b in batches for job in b]
    assert sorted(claimed) == sorted(made)
    assert all(1 <= len(b) <= 4 for b in batches)
    for b in batches:
        ids = {store.attempts(j)[0].batch_id for j in b}
        assert len(ids) == 1 and (None in ids) == (len(b) == 1)


@pytest.mark.parametrize("field,value", [("guidance_scale", 6.0), ("fps", 16), ("num_frames", 9),
                                         ("loras", (("style", 0.8),)), ("options", {"strength": 0.4})])
def test_jobs_differing_in_what_the_pipeline_call_shares_are_not_batched(store, field, value):
    head = store.create(SPEC)
    store.create(SPEC.replace(**{field: value}))
    assert [j.id for j in store.claim_batch("w1", 30, four)] == [head.id]
