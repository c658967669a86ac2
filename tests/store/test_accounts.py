"""Accounts on the store: keys, atomic charges and exact refunds, rate windows, idempotency keys.
Runs on a real SQLite file and a real PostgreSQL, like the job store contract."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from tests.store.conftest import run_threads
from tests.store.test_contract import SPEC, expire

from reelforge.accounts import hash_key
from reelforge.errors import IdempotencyInFlight, IdempotencyMismatch, InsufficientCredits
from reelforge.jobs import JobStatus
from reelforge.store import AccountStore
from reelforge.store import accounts as accounts_module
from reelforge.store.tables import accounts as accounts_table
from reelforge.store.tables import idempotency_keys


@pytest.fixture
def accounts(store) -> AccountStore:
    return AccountStore(store)


def make(accounts, credits=10, rate=(30, 60)):
    return accounts.create("alice", credits=credits, rate_limit=rate[0], rate_window=rate[1])


def test_a_key_is_shown_once_and_only_its_hash_is_stored(accounts, store):
    acct, key = make(accounts)
    assert key.startswith("rf_") and len(key) > 40
    assert accounts.authenticate(key) == acct
    assert accounts.authenticate(key + "x") is None
    with store.engine.connect() as conn:
        stored = conn.execute(accounts_table.select()).one()
    assert stored.key_hash == hash_key(key) and key not in tuple(map(str, stored))
    accounts.revoke(acct.key_prefix)
    assert accounts.authenticate(key) is None
    assert accounts.any()


def test_fifty_parallel_creates_against_ten_credits_accept_exactly_ten(accounts, store):
    acct, _ = make(accounts, credits=10)

    def create(i):
        try:
            return store.create(SPEC, account=acct.id, charge=1)
        except InsufficientCredits as e:
            return e

    results = run_threads(50, create)
    made = [r for r in results if not isinstance(r, InsufficientCredits)]
    refused = [r for r in results if isinstance(r, InsufficientCredits)]
    assert len(made) == 10 and len(refused) == 40
    assert accounts.get(acct.id).credits == 0
    assert {(e.required, e.available) for e in refused} == {(1, 0)}
    assert store.counts()["queued"] == 10


def test_refused_charge_creates_nothing(accounts, store):
    acct, _ = make(accounts, credits=3)
    with pytest.raises(InsufficientCredits) as info:
        store.create(SPEC, account=acct.id, charge=4)
    assert (info.value.required, info.value.available) == (4, 3)
    assert accounts.get(acct.id).credits == 3 and store.counts().get("queued", 0) == 0


def test_failed_and_cancelled_jobs_are_refunded_exactly_once(accounts, store):
    acct, _ = make(accounts, credits=100)
    queued_cancel = store.create(SPEC, account=acct.id, charge=5)
    deleted = store.create(SPEC, account=acct.id, charge=7)
    running = [store.create(SPEC, account=acct.id, charge=c, max_attempts=1) for c in (11, 13, 17, 19)]
    assert accounts.get(acct.id).credits == 100 - 5 - 7 - 60
    # Cancelled while queued, twice: one refund.
    store.request_cancel(queued_cancel.id)
    store.request_cancel(queued_cancel.id)
    store.delete(deleted.id)
    assert accounts.get(acct.id).credits == 100 - 60
    jobs = [store.claim("w", 30) for _ in range(4)]
    jobs = {j.id: j for j in jobs if j is not None}
    failed, cancelled, completed, expired = (jobs[r.id] for r in running)
    assert store.fail(failed.id, "w", "generation_failed", "boom")
    assert not store.fail(failed.id, "w", "generation_failed", "again")  # not owned any more: no second refund
    store.request_cancel(cancelled.id)
    assert store.mark_cancelled(cancelled.id, "w")
    assert store.complete(completed.id, "w", {"artifacts": {}})
    store.delete(completed.id)  # deleting a finished video refunds nothing
    store.requeue_expired(now=expire(expired))  # out of attempts: failed, refunded
    assert store.get(expired.id).status is JobStatus.FAILED
    assert accounts.get(acct.id).credits == 100 - 17  # only the completed job stays paid
    assert [store.get(j).refunded for j in (failed.id, cancelled.id, expired.id)] == [True] * 3


def test_rate_window_counts_and_resets(accounts):
    acct, _ = make(accounts, rate=(3, 60))
    t = 6000.0
    states = [accounts.hit(acct, now=t + i) for i in range(4)]
    assert [s.remaining for s in states] == [2, 1, 0, -1] and states[-1].exceeded
    assert states[0].reset_at == 6060 and accounts.peek(acct, now=t).remaining == -1
    fresh = accounts.hit(acct, now=t + 60)
    assert fresh.remaining == 2 and fresh.reset_at == 6120


def test_rate_windows_are_shared_under_concurrency(accounts):
    acct, _ = make(accounts, rate=(10, 3600))
    states = run_threads(20, lambda i: accounts.hit(acct, now=7200.0))
    assert sorted(s.remaining for s in states) == list(range(-10, 10))


def test_idempotency_reserve_replays_conflicts_and_mismatches(accounts, store, monkeypatch):
    acct, _ = make(accounts)
    assert accounts.reserve(acct.id, "openai:create", "k1", "fp") is None
    with pytest.raises(IdempotencyInFlight):
        accounts.reserve(acct.id, "openai:create", "k1", "fp")
    with pytest.raises(IdempotencyMismatch):
        accounts.reserve(acct.id, "openai:create", "k1", "other")
    job = store.create(SPEC, account=acct.id, charge=2, idempotency=("openai:create", "k1"))
    assert accounts.reserve(acct.id, "openai:create", "k1", "fp") == job
    # The same key on another route or for another account is a different key.
    assert accounts.reserve(acct.id, "novita:create", "k1", "fp") is None
    assert accounts.reserve("someone-else", "openai:create", "k1", "fp") is None
    # A reservation whose request failed before creating a job is freed for a corrected retry.
    accounts.unreserve("someone-else", "openai:create", "k1")
    assert accounts.reserve("someone-else", "openai:create", "k1", "new") is None
    # A reservation left by a request that died stops blocking after a while.
    assert accounts.reserve(acct.id, "openai:create", "k2", "fp") is None
    monkeypatch.setattr(accounts_module, "STALE_RESERVATION", -1.0)
    assert accounts.reserve(acct.id, "openai:create", "k2", "fp") is None


def test_a_charge_and_its_idempotency_key_commit_together(accounts, store):
    acct, _ = make(accounts, credits=1)
    assert accounts.reserve(acct.id, "r", "k", "fp") is None
    with pytest.raises(InsufficientCredits):
        store.create(SPEC, account=acct.id, charge=2, idempotency=("r", "k"))
    with pytest.raises(IdempotencyInFlight):  # still only reserved: no job was bound to it
        accounts.reserve(acct.id, "r", "k", "fp")


def test_a_paid_idempotent_create_changes_only_the_credits_and_the_binding(accounts, store):
    """The create writes the account and the reservation alongside the job (on PostgreSQL in one
    statement): nothing of the job's own values may leak into their other columns."""
    acct, _ = make(accounts, credits=5)
    assert accounts.reserve(acct.id, "r", "k", "fp") is None
    with store.engine.connect() as conn:
        account_before = conn.execute(sa.select(accounts_table).where(accounts_table.c.id == acct.id)).one()
        key_before = conn.execute(sa.select(idempotency_keys)).one()
    job = store.create(SPEC, account=acct.id, charge=2, idempotency=("r", "k"))
    with store.engine.connect() as conn:
        account_after = conn.execute(sa.select(accounts_table).where(accounts_table.c.id == acct.id)).one()
        key_after = conn.execute(sa.select(idempotency_keys)).one()
    assert account_after._asdict() == {**account_before._asdict(), "credits": 3}
    assert key_after._asdict() == {**key_before._asdict(), "job_id": job.id}
    assert store.get(job.id).charge == 2


def _age(store, key: str, seconds: float) -> None:
    """Move a key's reservation ``seconds`` into the past, as if its request had been sent then."""
    k = idempotency_keys.c
    with store.engine.begin() as conn:
        conn.execute(sa.update(idempotency_keys).where(k.key == key).values(created_at=k.created_at - seconds))


def _reserve_or_error(accounts, acct, key, fingerprint="fp"):
    try:
        return ("go", accounts.reserve(acct.id, "openai:create", key, fingerprint))
    except (IdempotencyInFlight, IdempotencyMismatch) as e:
        return (type(e).__name__, None)


def test_concurrent_reservations_of_one_key_let_exactly_one_through(accounts, store):
    acct, _ = make(accounts)
    results = run_threads(32, lambda i: _reserve_or_error(accounts, acct, "k"))
    # Every other caller is told the first is in flight; none meets a unique violation (a 500).
    assert sorted(results, key=str) == [("IdempotencyInFlight", None)] * 31 + [("go", None)]
    job = store.create(SPEC, account=acct.id, charge=2, idempotency=("openai:create", "k"))
    assert run_threads(32, lambda i: _reserve_or_error(accounts, acct, "k")) == [("go", job)] * 32
    assert accounts.get(acct.id).credits == 8


def test_a_stale_reservation_is_taken_over_by_exactly_one_retry(accounts, store):
    acct, _ = make(accounts)
    assert accounts.reserve(acct.id, "openai:create", "k", "fp") is None
    _age(store, "k", accounts_module.STALE_RESERVATION + 1)  # its request died without creating a job
    results = run_threads(16, lambda i: _reserve_or_error(accounts, acct, "k"))
    assert sorted(results, key=str) == [("IdempotencyInFlight", None)] * 15 + [("go", None)]


def test_a_stale_reservation_keeps_its_payload_and_an_expired_key_is_new(accounts, store):
    acct, _ = make(accounts)
    assert accounts.reserve(acct.id, "openai:create", "k", "fp") is None
    _age(store, "k", accounts_module.STALE_RESERVATION + 1)
    with pytest.raises(IdempotencyMismatch):  # a stale key still means its first payload
        accounts.reserve(acct.id, "openai:create", "k", "other")
    job = store.create(SPEC, account=acct.id, idempotency=("openai:create", "k"))
    _age(store, "k", accounts_module.IDEMPOTENCY_TTL)
    # After 24 h the key no longer replays its job: any payload may claim it, exactly once.
    results = run_threads(8, lambda i: _reserve_or_error(accounts, acct, "k", "other"))
    assert sorted(results, key=str) == [("IdempotencyInFlight", None)] * 7 + [("go", None)]
    assert store.get(job.id).id == job.id
