"""Reads on the event loop (store/loop_reads.py): the same answers as the sync reads, on both
databases; a SQLite lock never holds the loop; a dead PostgreSQL connection costs no failed read."""

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

