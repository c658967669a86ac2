"""Statements on the event loop (store/loop_queries.py): the same answers as the sync reads and creates, on both
databases; a SQLite lock never holds the loop; a dead PostgreSQL connection costs no failed read or create."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

import pytest
import sqlalchemy as sa
from tests.store.test_contract import SPEC

from reelforge.errors import JobNotFound


def test_aget_answers_as_get_does(store):
    job = store.create(SPEC, account="alice")

    async def reads():
        return await store.aget(job.id), await store.aget(job.id, "alice")

    mine, owned = asyncio.run(reads())
    assert mine == owned == store.get(job.id)
    assert mine.spec == SPEC


def test_aget_reads_missing_foreign_deleted_and_malformed_alike(store):
    job = store.create(SPEC, account="alice")
    gone = store.create(SPEC, account="alice")
    store.delete(gone.id, "alice")

    async def miss(job_id, account):
        with pytest.raises(JobNotFound):
            await store.aget(job_id, account)

    async def all_of_them():
        await miss(job.id, "bob")  # another account's job does not exist for bob
        await miss(gone.id, "alice")
        await miss("0" * 32, "alice")
        await miss("not-an-id'; --", "alice")

    asyncio.run(all_of_them())


def test_a_sqlite_lock_does_not_hold_the_loop(tmp_path):
    """A read that meets a lock waits for it off the loop: other coroutines keep running, and the
    read still answers once the lock is gone."""
    from reelforge.store import JobStore

    path = tmp_path / "jobs.sqlite3"
    store = JobStore(f"sqlite:///{path}")
    store.migrate()
    job = store.create(SPEC)
    store.engine.dispose()  # the exclusive mode below needs no other connection open
    # An exclusive-mode connection holding a write transaction keeps every other connection out,
    # readers included, even in WAL mode; it lets go when it closes.
    locker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    locker.execute("PRAGMA locking_mode = EXCLUSIVE")
    locker.execute("BEGIN EXCLUSIVE")
    locker.execute("UPDATE jobs SET progress = 5 WHERE id = ?", (job.id,))

    def unlock():
        locker.execute("COMMIT")
        locker.close()

    release = threading.Timer(1.0, unlock)

    async def read_while_ticking():
        ticks = 0

        async def tick():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.05)

        ticker = asyncio.create_task(tick())
        await asyncio.sleep(0)
        started = time.monotonic()
        got = await store.aget(job.id)
        ticker.cancel()
        return got, ticks, time.monotonic() - started

    release.start()
    try:
        got, ticks, waited = asyncio.run(read_while_ticking())
    finally:
        release.join()
        store.close()
    assert waited >= 0.9  # it did meet the lock, and waited it out
    assert got.progress == 5  # and read what the lock's holder committed
    assert ticks >= 10  # the loop ran on meanwhile (1 s at 50 ms a tick is ~20)


def test_a_terminated_postgresql_connection_costs_no_failed_read(pg_store):
    job = pg_store.create(SPEC, account="alice")

    async def reads():
        first = await pg_store.aget(job.id, "alice")
        # Every backend the loop's pool holds is killed, as a database restart or failover would.
        with pg_store.engine.connect() as conn:
            killed = conn.execute(sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar()
        second = await pg_store.aget(job.id, "alice")
        return first, killed, second

    first, killed, second = asyncio.run(reads())
    assert killed >= 1
    assert first == second == pg_store.get(job.id)



def test_acreate_queues_charges_and_refuses_as_create_does(store):
    from reelforge.errors import InsufficientCredits
    from reelforge.store import AccountStore, EventLog

    accounts = AccountStore(store)
    acct, _ = accounts.create("alice", credits=5, rate_limit=10, rate_window=60)

    async def creates():
        made = await store.acreate(SPEC, account=acct.id, surface="segmind", max_attempts=2, charge=3)
        with pytest.raises(InsufficientCredits) as refused:
            await store.acreate(SPEC, account=acct.id, charge=3)
        return made, refused.value

    job, refused = asyncio.run(creates())
    assert store.get(job.id, acct.id) == job
    assert (job.status.value, job.surface, job.max_attempts, job.charge, job.spec) == ("queued", "segmind", 2, 3, SPEC)
    assert [(e.seq, e.type) for e in EventLog(store.engine).for_job(job.id)] == [(1, "queued")]
    assert accounts.get(acct.id).credits == 2
    assert (refused.required, refused.available) == (3, 2)
    assert len(store.list(acct.id).jobs) == 1  # the refused create left nothing behind


def test_a_create_on_the_loop_survives_terminated_connections_and_runs_once(pg_store):
    async def creates():
        await pg_store.acreate(SPEC, account="alice")  # the loop's pool now holds a connection
        with pg_store.engine.connect() as conn:
            killed = conn.execute(sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar()
        return killed, await pg_store.acreate(SPEC, account="alice")

    killed, job = asyncio.run(creates())
    assert killed >= 1
    assert [j.id for j in pg_store.list("alice").jobs][0] == job.id and len(pg_store.list("alice").jobs) == 2


def test_a_create_run_twice_exists_and_is_charged_once(pg_store):
    """What a lost answer looks like: the statement committed, its connection died before the
    reply, and loop_queries ran it again. The second run finds the job's id taken and returns it."""
    from reelforge.store import AccountStore, EventLog
    from reelforge.store.store import _new_job

    accounts = AccountStore(pg_store)
    acct, _ = accounts.create("alice", credits=5, rate_limit=10, rate_window=60)
    row = _new_job(SPEC, acct.id, "openai", 3, None, 2)

    async def twice():
        return await pg_store._acreate_row(dict(row)), await pg_store._acreate_row(dict(row))

    first, second = asyncio.run(twice())
    assert first == second and first.id == row["id"]
    assert len(pg_store.list(acct.id).jobs) == 1
    assert len(EventLog(pg_store.engine).for_job(first.id)) == 1
    assert accounts.get(acct.id).credits == 3
