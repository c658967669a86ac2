"""LISTEN/NOTIFY wake-ups on a real PostgreSQL: a create wakes a listening worker at once, a rolled
back create does not, and SQLite falls back to the timed poll."""

from __future__ import annotations

import threading
import uuid

import pytest

from reelforge.errors import InsufficientCredits
from reelforge.store import AccountStore, JobStore, Wakeups
from tests.pgcluster import create_database
from tests.store.test_contract import SPEC


@pytest.fixture
def pg_store(postgres_url):
    store = JobStore(create_database(postgres_url, f"wake_{uuid.uuid4().hex[:12]}"))
    store.migrate()
    yield store
    store.close()


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
