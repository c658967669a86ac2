"""Job events: what happened to each job, in order, recorded in the transaction that made it happen.

``record`` is called by ``JobStore`` inside each transition's transaction, so an event exists
exactly when its change does (a rolled-back claim leaves no "in_progress" behind) and a reader of
events never sees a change the jobs table has not. A job's events are numbered 1, 2, 3 ... (``seq``,
its SSE stream's cursor); ``id`` is global and orders an account's events (its stream's cursor).

Ordering on PostgreSQL: ids come from a sequence, so two transactions can take ids 10 and 11 and
commit 11 first; a reader that saw 11 and moved its cursor past it would never see 10. Each
transaction that records events for an account therefore takes a transaction-scoped advisory lock
on that account as its last lock (nothing is locked after it, so it cannot deadlock) and holds it
to commit: one account's events then become visible in id order. SQLite has one writer at a time,
which gives the same order for free. A job's ``seq`` needs no lock of its own: every transition
updates the job's row first, and that row lock orders them.

A terminal event also puts its webhook deliveries in the outbox (``store.outbox``), in the same
transaction. ``NOTIFY reelforge_events, '<account>'`` wakes streams on other machines.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from reelforge.store.tables import job_events

CHANNEL = "reelforge_events"
# Progress is recorded at most this often per job ("about one event per second").
PROGRESS_INTERVAL = 1.0
# The advisory-lock class of per-account event ordering (the migration lock uses the one-key form).
_ORDER_LOCK_CLASS = 0x7266

TYPES = ("queued", "in_progress", "progress", "completed", "failed", "cancelled")


@dataclass(frozen=True)
class Event:
    id: int
    job_id: str
    seq: int
    account: str
    type: str
    status: str
    progress: int
    eta_at: float | None
    error_code: str | None
    error_message: str | None
    created_at: float

    @property
    def terminal(self) -> bool:
        return self.type in ("completed", "failed", "cancelled")


_LAST = (
    sa.select(job_events.c.seq, job_events.c.type, job_events.c.progress, job_events.c.created_at)
    .where(job_events.c.job_id == sa.bindparam("job_id"))
    .order_by(job_events.c.seq.desc())
    .limit(1)
)
_INSERT = sa.insert(job_events)


def ordering_lock(account: sa.ColumnElement[str]) -> sa.ColumnElement[None]:
    """The ordering lock of ``account`` as an expression: what ``lock_accounts`` takes, and what a
    statement that takes it itself (``store.creates``) selects."""
    return sa.func.pg_advisory_xact_lock(_ORDER_LOCK_CLASS, sa.func.hashtext(account))


_ACCOUNT = sa.bindparam("account", type_=sa.String)
# One round trip: the notification is only delivered at commit, after the lock is released anyway.
_LOCK_AND_NOTIFY = sa.select(ordering_lock(_ACCOUNT), sa.func.pg_notify(CHANNEL, _ACCOUNT))


def lock_accounts(conn: Connection, accounts: list[str] | set[str]) -> None:
    """Take the ordering lock of each account (see the module doc); call after every other lock."""
    if conn.dialect.name != "postgresql":
        return
    for account in sorted(set(accounts)):
        conn.execute(_LOCK_AND_NOTIFY, {"account": account})


def record(
    conn: Connection, *, job_id: str, account: str, type: str, status: str, progress: int,
    eta_at: float | None = None, error_code: str | None = None, error_message: str | None = None,
    now: float | None = None, locked: bool = False, first: bool = False,
) -> int | None:
    """Append one event to ``job_id``'s history; returns its seq, or None for a progress event
    dropped by the throttle. ``locked``: the caller already took the account's ordering lock;
    ``first``: the job was made in this transaction, so it has no events yet (a create skips a query)."""
    now = time.time() if now is None else now
    last = None if first else conn.execute(_LAST, {"job_id": job_id}).first()
    if type == "progress" and last is not None:
        if last.progress >= progress or (last.type == "progress" and now - last.created_at < PROGRESS_INTERVAL):
            return None
    if not locked:
        lock_accounts(conn, [account])
    seq = 1 if last is None else last.seq + 1
    conn.execute(_INSERT, dict(
        job_id=job_id, seq=seq, account=account, type=type, status=status, progress=progress, eta_at=eta_at,
        error_code=error_code, error_message=error_message, created_at=now))
    return seq


class EventLog:
    """Reading events: a job's after a seq, an account's after an id; and pruning old ones."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def for_job(self, job_id: str, *, after: int = 0, limit: int = 200) -> list[Event]:
        c = job_events.c
        query = sa.select(job_events).where(c.job_id == job_id, c.seq > after).order_by(c.seq).limit(limit)
        with self.engine.connect() as conn:
            return [_event(r) for r in conn.execute(query)]

    def for_account(self, account: str, *, after: int = 0, limit: int = 200) -> list[Event]:
        c = job_events.c
        query = sa.select(job_events).where(c.account == account, c.id > after).order_by(c.id).limit(limit)
        with self.engine.connect() as conn:
            return [_event(r) for r in conn.execute(query)]

    def last_id(self, account: str) -> int:
        """The newest event id of ``account`` (0 if none): where a stream that starts "now" begins."""
        c = job_events.c
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.max(c.id)).where(c.account == account)).scalar() or 0

    def prune(self, older_than: float) -> int:
        """Delete events recorded before ``older_than`` (epoch seconds); returns how many."""
        with self.engine.begin() as conn:
            return conn.execute(sa.delete(job_events).where(job_events.c.created_at < older_than)).rowcount


def _event(row: Any) -> Event:
    return Event(**row._mapping)
