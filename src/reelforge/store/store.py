"""The job store: the jobs table is the queue, and every state change is one atomic statement.

One implementation on SQLAlchemy Core for SQLite (one machine: the API's threads
and the worker processes share a WAL-mode file) and PostgreSQL (many machines:
claims use ``FOR UPDATE SKIP LOCKED``). Each transition is a conditional
``UPDATE ... RETURNING``; where an ``attempts`` row changes alongside, both run
in one transaction whose first statement is the write. That ordering matters on
SQLite: a transaction that reads first and writes later cannot wait for the
write lock (SQLITE_BUSY_SNAPSHOT), while one that writes first simply waits
out ``busy_timeout``.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import functools
import os
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, NoReturn

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.pool import QueuePool

from reelforge.errors import InsufficientCredits, InvalidRequest, JobNotFound
from reelforge.jobs import Attempt, Job, JobError, JobSpec, JobStatus
from reelforge.store.tables import accounts, idempotency_keys, jobs
from reelforge.store.tables import attempts as attempts_table
from reelforge.store import batches, creates, events, outbox
from reelforge.store.batches import BatchLimit
from reelforge.store.loop_queries import LoopQueries
from reelforge.store.wakeups import notify_cancelled, notify_queued

QUEUED = JobStatus.QUEUED.value
IN_PROGRESS = JobStatus.IN_PROGRESS.value
COMPLETED = JobStatus.COMPLETED.value
FAILED = JobStatus.FAILED.value
CANCELLED = JobStatus.CANCELLED.value
CANCEL_MESSAGE = "Cancelled by request."

_ID = re.compile(r"[0-9a-f]{32}")
_UNIQUE_VIOLATION = "23505"  # PostgreSQL's SQLSTATE
_MIGRATIONS = Path(__file__).parent / "migrations"
# Any constant works; it only has to be the same in every process that migrates.
_MIGRATION_LOCK_KEY = 0x7265656C66


@dataclass(frozen=True)
class Page:
    jobs: list[Job]
    has_more: bool


@dataclass(frozen=True)
class Heartbeat:
    owned: bool  # False: the lease is gone (requeued, failed or cancelled elsewhere); stop without writing.
    cancel_requested: bool


@dataclass(frozen=True)
class BatchPeek:
    created_at: float  # when the oldest queued job was submitted
    ready: int  # how many jobs a claim would take now, the oldest included
    wanted: int  # how many the oldest may run with (its batch limit)


@dataclass(frozen=True)
class RequeueResult:
    requeued: list[str]
    failed: list[str]
    cancelled: list[str]


class JobStore:
    def __init__(self, url: str):
        self.engine: Engine = _create_engine(url)
        # SQLite admits one writer at a time and makes the others back off with sleeps of up
        # to 100 ms; queueing this process's writers on a lock instead keeps tail latency low.
        self._write_lock = threading.Lock() if self.engine.dialect.name == "sqlite" else None
        self._loop = LoopQueries(self.engine)
        # PostgreSQL queues a job in one statement that is its own transaction (store.creates).
        self._autocommit = (self.engine.execution_options(isolation_level="AUTOCOMMIT")
                            if self.engine.dialect.name == "postgresql" else None)

    @contextlib.contextmanager
    def _write(self) -> Iterator[Connection]:
        if self._write_lock is None:
            with self.engine.begin() as conn:
                yield conn
            return
        with self._write_lock, self.engine.begin() as conn:
            yield conn

    def migrate(self) -> None:
        """Bring the schema to the newest revision; safe to call repeatedly and from several processes at once."""
        cfg = Config()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        with self.engine.connect() as conn:
            # The API and the workers start together and all migrate: take a lock so
            # only one creates tables and the others then find the schema at head.
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            conn.commit()

    def close(self) -> None:
        self._loop.close()
        self.engine.dispose()

    # --- creating and reading ---

    def create(
        self,
        spec: JobSpec,
        *,
        account: str = "local",
        surface: str = "openai",
        max_attempts: int = 3,
        remixed_from: str | None = None,
        charge: int = 0,
        idempotency: tuple[str, str] | None = None,
    ) -> Job:
        """Queue a job; in the same transaction take ``charge`` credits from ``account`` and bind the
        (route, key) idempotency reservation to it, so a job never exists unpaid or paid twice."""
        row = _new_job(spec, account, surface, max_attempts, remixed_from, charge)
        if self._autocommit is not None:
            return self._create_in_one_statement(row, idempotency)
        # SQLite (PostgreSQL's NOTIFY for workers is part of the one statement; SQLite has none).
        with self._write() as conn:
            if charge:
                _debit(conn, account, charge)
            job = _job(conn.execute(_INSERT_JOB, row).one())
            events.record(conn, job_id=job.id, account=account, type=QUEUED, status=QUEUED, progress=0,
                          now=row["created_at"], first=True)
            if idempotency is not None:
                route, key = idempotency
                k = idempotency_keys.c
                conn.execute(sa.update(idempotency_keys).where(k.account == account, k.route == route, k.key == key)
                             .values(job_id=job.id))
        return job

    async def acreate(
        self, spec: JobSpec, *, account: str = "local", surface: str = "openai", max_attempts: int = 3, charge: int = 0,
    ) -> Job:
        """create() for the API's event loop (no idempotency key: reserving one is its own write).
        PostgreSQL runs the one statement on the loop's connections; SQLite's writers queue for its
        one lock, so there the create waits in a worker thread."""
        if self._autocommit is None:
            return await asyncio.to_thread(functools.partial(
                self.create, spec, account=account, surface=surface, max_attempts=max_attempts, charge=charge))
        return await self._acreate_row(_new_job(spec, account, surface, max_attempts, None, charge))

    async def _acreate_row(self, row: dict[str, Any]) -> Job:
        statement = creates.statement(charge=bool(row["charge"]), idempotent=False)
        try:
            found = await self._loop.write(statement, creates.params(row, None))
        except sa.exc.IntegrityError as e:
            # The job's id is new, so only a second run of this very create can collide with it: the
            # first committed, and its answer was lost with its connection (loop_queries runs a
            # statement again on a dead connection). The job exists once, charged once.
            if getattr(e.orig, "sqlstate", None) != _UNIQUE_VIOLATION:
                raise
            return await self.aget(row["id"])
        if found is None:  # only a debit can refuse: nothing was written
            await asyncio.to_thread(self._refuse, row["account"], row["charge"])
        return _job(found)

    def _refuse(self, account: str, charge: int) -> NoReturn:
        with self.engine.connect() as conn:
            _insufficient(conn, account, charge)

    def _create_in_one_statement(self, row: dict[str, Any], idempotency: tuple[str, str] | None) -> Job:
        """create() on PostgreSQL: the same writes as one autocommitted statement (``store.creates``)."""
        statement = creates.statement(charge=bool(row["charge"]), idempotent=idempotency is not None)
        with self._autocommit.connect() as conn:
            found = conn.execute(statement, creates.params(row, idempotency)).first()
            if found is None:  # only a debit can refuse: nothing was written
                _insufficient(conn, row["account"], row["charge"])
        return _job(found)

    def get(self, job_id: str, account: str | None = None) -> Job:
        with self.engine.connect() as conn:
            return _get(conn, job_id, account)

    async def aget(self, job_id: str, account: str | None = None) -> Job:
        """get() for the API's event loop (a status poll), with no hop through the thread pool."""
        return _found(await self._loop.first(*_get_query(job_id, account)), job_id)

    def get_by_seq(self, seq: int, account: str | None = None) -> Job:
        """The job with this integer id (what Syllaby's surface shows); missing and foreign read alike."""
        query = sa.select(*jobs.c).where(jobs.c.seq == seq, jobs.c.deleted == sa.false())
        if account is not None:
            query = query.where(jobs.c.account == account)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise JobNotFound(str(seq))
        return _job(row)

    def list(self, account: str, *, after: str | None = None, limit: int = 20, order: str = "desc") -> Page:
        if order not in ("asc", "desc"):
            raise InvalidRequest(f"order must be 'asc' or 'desc', got {order!r}.", param="order")
        if limit < 1:
            raise InvalidRequest(f"limit must be at least 1, got {limit}.", param="limit")
        desc = order == "desc"
        query = sa.select(*jobs.c).where(jobs.c.account == account, jobs.c.deleted == sa.false())
        with self.engine.connect() as conn:
            if after is not None:
                # A deleted job still works as a cursor: deleting the last item of a
                # page must not break fetching the next one.
                cursor = None
                if _valid_id(after):
                    cursor = conn.execute(
                        sa.select(jobs.c.seq).where(jobs.c.id == after, jobs.c.account == account)
                    ).scalar()
                if cursor is None:
                    raise JobNotFound(after)
                query = query.where(jobs.c.seq < cursor if desc else jobs.c.seq > cursor)
            query = query.order_by(jobs.c.seq.desc() if desc else jobs.c.seq.asc()).limit(limit + 1)
            rows = conn.execute(query).all()
        return Page(jobs=[_job(r) for r in rows[:limit]], has_more=len(rows) > limit)

    def attempts(self, job_id: str) -> builtins.list[Attempt]:
        t = attempts_table
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t).where(t.c.job_id == job_id).order_by(t.c.number)).all()
        return [
            Attempt(job_id=r.job_id, number=r.number, worker_id=r.worker_id, started_at=r.started_at,
                    ended_at=r.ended_at, outcome=r.outcome, batch_id=r.batch_id, batch_size=r.batch_size or 1)
            for r in rows
        ]

    def counts(self) -> dict[str, int]:
        query = (
            sa.select(jobs.c.status, sa.func.count())
            .where(jobs.c.deleted == sa.false())
            .group_by(jobs.c.status)
        )
        out = {s.value: 0 for s in JobStatus}
        with self.engine.connect() as conn:
            out.update({status: n for status, n in conn.execute(query)})
        return out

    # --- the worker's side: claim, heartbeat, finish ---

    def has_queued(self) -> bool:
        """A read-only look before ``claim``: idle workers poll often, and a claim is a write."""
        query = sa.select(jobs.c.seq).where(jobs.c.status == QUEUED).limit(1)
        with self.engine.connect() as conn:
            return conn.execute(query).first() is not None

    def claim(self, worker_id: str, lease_seconds: float) -> Job | None:
        claimed = self.claim_batch(worker_id, lease_seconds)
        return claimed[0] if claimed else None

    def claim_batch(self, worker_id: str, lease_seconds: float, limit: BatchLimit | None = None) -> builtins.list[Job]:
        """Claim the oldest queued job and, in the same transaction, up to ``limit(its spec) - 1``
        more queued jobs compatible with it (``store.batches``), oldest first; [] when none is queued.

        Each job gets its own lease and attempt, exactly as a claim of one would; the attempts of a
        batch of several record its id and size. ``limit`` runs inside the transaction: keep it cheap.
        """
        now = time.time()
        with self._write() as conn:
            head = conn.execute(self._claim_statement(worker_id, lease_seconds, now, jobs.c.seq == _OLDEST)).first()
            if head is None:
                return []
            rows = [head]
            spec = JobSpec.from_dict(head.spec)
            slots = (limit(spec) - 1) if limit is not None and batches.batch_key(spec) is not None else 0
            if slots > 0:
                seqs = batches.pick(spec, conn.execute(batches.candidates(spec, head.seq, slots)).all(), slots)
                if seqs:
                    more = conn.execute(self._claim_statement(worker_id, lease_seconds, now, jobs.c.seq.in_(seqs)))
                    rows += sorted(more.all(), key=lambda r: r.seq)
            batch_id = uuid.uuid4().hex if len(rows) > 1 else None
            conn.execute(sa.insert(attempts_table), [
                dict(job_id=r.id, number=r.attempts, worker_id=worker_id, started_at=now, batch_id=batch_id,
                     batch_size=len(rows) if batch_id else None)
                for r in rows
            ])
            events.lock_accounts(conn, {r.account for r in rows})
            for r in rows:
                _record(conn, r.id, r.account, IN_PROGRESS, progress=0, now=now, locked=True)
        return [_job(r) for r in rows]

    def peek_batch(self, limit: BatchLimit) -> BatchPeek | None:
        """A read-only look at what ``claim_batch`` would take now; None when nothing is queued."""
        with self.engine.connect() as conn:
            head = conn.execute(sa.select(jobs.c.seq, jobs.c.spec, jobs.c.created_at).where(_CLAIMABLE)
                                .order_by(jobs.c.seq).limit(1)).first()
            if head is None:
                return None
            spec = JobSpec.from_dict(head.spec)
            wanted = limit(spec) if batches.batch_key(spec) is not None else 1
            ready = 1
            if wanted > 1:
                rows = conn.execute(batches.candidates(spec, head.seq, wanted - 1, lock=False)).all()
                ready += len(batches.pick(spec, rows, wanted - 1))
        return BatchPeek(created_at=head.created_at, ready=ready, wanted=wanted)

    @staticmethod
    def _claim_statement(worker_id: str, lease_seconds: float, now: float, which: Any) -> Any:
        return (
            sa.update(jobs)
            .where(which, jobs.c.status == QUEUED, jobs.c.cancel_requested == sa.false())
            .values(
                status=IN_PROGRESS, attempts=jobs.c.attempts + 1, lease_owner=worker_id,
                lease_expires_at=now + lease_seconds, started_at=sa.func.coalesce(jobs.c.started_at, now),
                progress=0, eta_at=None, updated_at=now,
            )
            .returning(*jobs.c)
        )

    def heartbeat(
        self, job_id: str, worker_id: str, *, progress: int | None = None, lease_seconds: float,
        eta_at: float | None = None,
    ) -> Heartbeat:
        now = time.time()
        values: dict[str, Any] = {"lease_expires_at": now + lease_seconds, "updated_at": now}
        if eta_at is not None:
            values["eta_at"] = eta_at
        if progress is not None:
            p = min(max(int(progress), 0), 100)
            values["progress"] = sa.case((jobs.c.progress < p, p), else_=jobs.c.progress)
        stmt = (
            sa.update(jobs)
            .where(*_owned(job_id, worker_id))
            .values(**values)
            .returning(jobs.c.cancel_requested, jobs.c.account, jobs.c.progress, jobs.c.eta_at)
        )
        with self._write() as conn:
            row = conn.execute(stmt).first()
            if row is not None and progress is not None:
                # Throttled to about one a second by events.record, whatever the heartbeat interval.
                events.record(conn, job_id=job_id, account=row.account, type="progress", status=IN_PROGRESS,
                              progress=row.progress, eta_at=row.eta_at, now=now)
        if row is None:
            return Heartbeat(owned=False, cancel_requested=False)
        return Heartbeat(owned=True, cancel_requested=bool(row.cancel_requested))

    def complete(self, job_id: str, worker_id: str, result: dict[str, Any]) -> bool:
        """Refused once a cancel was requested, so a job cancelled or deleted mid-run never shows as completed."""
        return self._finish(
            job_id, worker_id, COMPLETED, progress=100, result=result, error_code=None, error_message=None,
            where=[jobs.c.cancel_requested == sa.false()],
        )

    def release(self, job_id: str, worker_id: str) -> bool:
        """Hand a job back to the queue (the worker is shutting down); the attempt is closed as "released"."""
        now = time.time()
        stmt = (
            sa.update(jobs)
            .where(*_owned(job_id, worker_id), jobs.c.cancel_requested == sa.false())
            .values(status=QUEUED, lease_owner=None, lease_expires_at=None, progress=0, eta_at=None, updated_at=now)
            .returning(jobs.c.attempts, jobs.c.account)
        )
        with self._write() as conn:
            row = conn.execute(stmt).first()
            if row is not None:
                _close_attempts(conn, [(job_id, row.attempts)], now, "released")
                notify_queued(conn)
                _record(conn, job_id, row.account, QUEUED, progress=0, now=now)
                return True
        # Flagged for cancel: queued again it would never be claimed, so it ends cancelled here.
        return self.mark_cancelled(job_id, worker_id)

    def fail(self, job_id: str, worker_id: str, code: str, message: str) -> bool:
        return self._finish(job_id, worker_id, FAILED, error_code=code, error_message=message)

    def mark_cancelled(self, job_id: str, worker_id: str) -> bool:
        return self._finish(job_id, worker_id, CANCELLED, error_code="cancelled", error_message=CANCEL_MESSAGE)

    def _finish(self, job_id: str, worker_id: str, status: str, where: builtins.list[Any] = (), **values: Any) -> bool:
        """End the owner's attempt; a worker whose lease was taken away changes nothing (fencing)."""
        now = time.time()
        stmt = (
            sa.update(jobs)
            .where(*_owned(job_id, worker_id), *where)
            .values(status=status, completed_at=now, updated_at=now, lease_owner=None, lease_expires_at=None, eta_at=None,
                    **values)
            .returning(*jobs.c)
        )
        with self._write() as conn:
            row = conn.execute(stmt).first()
            if row is None:
                return False
            _close_attempts(conn, [(job_id, row.attempts)], now, status)
            _refund(conn, [job_id])
            _record_end(conn, row, now)
        return True

    # --- the client's side: cancel and delete ---

    def request_cancel(self, job_id: str, account: str | None = None) -> Job:
        """Queued: cancelled now. Running: flagged for the worker. Finished: returned unchanged."""
        stmt = (
            sa.update(jobs)
            .where(*_visible(job_id, account), jobs.c.status.in_((QUEUED, IN_PROGRESS)))
            .values(**_cancel_values(time.time()))
            .returning(*jobs.c)
        )
        with self._write() as conn:
            row = conn.execute(stmt).first()
            # No row: it is missing (raises) or already finished, and finished jobs stay finished.
            if row is None:
                return _get(conn, job_id, account)
            _refund(conn, [job_id])
            if row.status == IN_PROGRESS:  # a worker holds it: tell that worker now; it records the end
                notify_cancelled(conn, job_id)
            else:
                _record_end(conn, row, row.updated_at)
            return _job(row)

    def delete(self, job_id: str, account: str | None = None) -> Job:
        """Soft delete, cancelling an unfinished job: the attempts audit and accounting keep the row."""
        stmt = (
            sa.update(jobs)
            .where(*_visible(job_id, account))
            .values(deleted=True, **_cancel_values(time.time()))
            .returning(*jobs.c)
        )
        with self._write() as conn:
            row = conn.execute(stmt).first()
            if row is not None:
                _refund(conn, [job_id])
                if row.status == IN_PROGRESS:
                    notify_cancelled(conn, job_id)
                elif row.status == CANCELLED and row.completed_at == row.updated_at:  # queued, cancelled by this delete
                    _record_end(conn, row, row.updated_at)
        if row is None:
            raise JobNotFound(job_id)
        return _job(row)

    # --- the janitor ---

    def requeue_expired(self, now: float | None = None) -> RequeueResult:
        now = time.time() if now is None else now
        expired = sa.and_(jobs.c.status == IN_PROGRESS, jobs.c.lease_expires_at < now)
        # SKIP LOCKED: rows another janitor (or a heartbeat) holds right now are
        # left for the next round instead of being waited on or deadlocked over.
        victims = sa.select(jobs.c.seq).where(expired).with_for_update(skip_locked=True)
        cancel = jobs.c.cancel_requested == sa.true()
        retry = jobs.c.attempts < jobs.c.max_attempts
        n = sa.cast(jobs.c.attempts, sa.String)
        gave_up = (
            sa.literal("The worker running this job stopped responding ") + n
            + " times (lease expired); giving up after " + n + " attempts."
        )
        stmt = (
            sa.update(jobs)
            .where(jobs.c.seq.in_(victims), expired)
            .values(
                status=sa.case((cancel, CANCELLED), (retry, QUEUED), else_=FAILED),
                progress=sa.case((cancel, jobs.c.progress), (retry, 0), else_=jobs.c.progress),
                completed_at=sa.case((cancel, now), (retry, sa.null()), else_=now),
                error_code=sa.case((cancel, "cancelled"), (retry, sa.null()), else_="lease_expired"),
                error_message=sa.case((cancel, CANCEL_MESSAGE), (retry, sa.null()), else_=gave_up),
                lease_owner=None, lease_expires_at=None, eta_at=None, updated_at=now,
            )
            .returning(*jobs.c)
        )
        with self._write() as conn:
            rows = conn.execute(stmt).all()
            if rows:
                _close_attempts(conn, [(r.id, r.attempts) for r in rows], now, "expired")
                _refund(conn, [r.id for r in rows if r.status != QUEUED])
                if any(r.status == QUEUED for r in rows):
                    notify_queued(conn)
                events.lock_accounts(conn, {r.account for r in rows})
                for r in rows:
                    if r.status == QUEUED:
                        _record(conn, r.id, r.account, QUEUED, progress=0, now=now, locked=True)
                    else:
                        _record_end(conn, r, now, locked=True)
        by_status: dict[str, builtins.list[str]] = {QUEUED: [], FAILED: [], CANCELLED: []}
        for r in rows:
            by_status[r.status].append(r.id)
        return RequeueResult(requeued=by_status[QUEUED], failed=by_status[FAILED], cancelled=by_status[CANCELLED])


# Connections the pool keeps open: as many as the API's thread pool (anyio's default of 40 threads)
# can use at once. A pool keeps no more than its size: each connection over it is closed when it
# is returned, so with a smaller pool every request past its size under load opens a new one (a
# new backend process on PostgreSQL; a new file handle and its pragmas on SQLite). Connections are
# opened only when needed, so a worker, which uses one or two, holds no more than it did.
POOL_SIZE = 40


def _create_engine(url: str) -> Engine:
    u = sa.make_url(url)
    if u.drivername == "postgresql":
        u = u.set(drivername="postgresql+psycopg")  # the driver we ship, not SQLAlchemy's default psycopg2
    if u.get_backend_name() != "sqlite":
        return sa.create_engine(u, pool_pre_ping=True, pool_size=POOL_SIZE, max_overflow=10)
    if not u.database or u.database == ":memory:" or u.query.get("mode") == "memory":
        raise ValueError("the job store needs a SQLite file, shared by threads and worker processes; got an in-memory URL")
    _private_file(Path(u.database))
    # QueuePool hands each thread its own connection for the duration of a call
    # (never one connection to two threads at once). Unbounded overflow because
    # SQLite connections are cheap and a busy API should wait on the database's
    # lock, not on a pool timeout.
    engine = sa.create_engine(u, poolclass=QueuePool, pool_size=POOL_SIZE, max_overflow=-1)
    sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _private_file(path: Path) -> None:
    """Create the database file readable by its owner only (jobs hold prompts, images and key hashes).
    SQLite gives the -wal and -shm files the database file's mode, so they follow. An existing file
    that others can read is tightened, where we own it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        st = path.stat()
        if st.st_mode & 0o077 and st.st_uid == os.getuid():
            for f in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                if f.exists():
                    f.chmod(0o600)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # busy_timeout first: switching the file to WAL itself may wait for a lock.
    cur.execute("PRAGMA busy_timeout = 30000")
    # WAL: readers (API polls) never block the writer (workers) or each other.
    _switch_to_wal(cur)
    # In WAL mode NORMAL survives any process crash; only a power loss can drop the last commits.
    cur.execute("PRAGMA synchronous = NORMAL")
    cur.execute("PRAGMA foreign_keys = ON")
    cur.close()


def _switch_to_wal(cur: Any) -> None:
    """Switching a new file to WAL needs it unlocked, and SQLite answers "database is locked" at once
    rather than through busy_timeout; that happens when the API and the workers open a brand-new
    database together and one is migrating it. The mode is stored in the file, so wait and retry."""
    deadline = time.monotonic() + 30
    while True:
        try:
            cur.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _valid_id(job_id: Any) -> bool:
    return isinstance(job_id, str) and _ID.fullmatch(job_id) is not None


def _visible(job_id: str, account: str | None) -> builtins.list[Any]:
    """Conditions for a job the caller may see; raises JobNotFound for an id that cannot exist."""
    if not _valid_id(job_id):
        raise JobNotFound(job_id)
    conds = [jobs.c.id == job_id, jobs.c.deleted == sa.false()]
    if account is not None:
        conds.append(jobs.c.account == account)
    return conds


_CLAIMABLE = sa.and_(jobs.c.status == QUEUED, jobs.c.cancel_requested == sa.false(), jobs.c.deleted == sa.false())
_OLDEST = (
    sa.select(jobs.c.seq).where(_CLAIMABLE).order_by(jobs.c.seq).limit(1).with_for_update(skip_locked=True)
    .scalar_subquery()
)


def _owned(job_id: str, worker_id: str) -> builtins.list[Any]:
    return [jobs.c.id == job_id, jobs.c.status == IN_PROGRESS, jobs.c.lease_owner == worker_id]


# The statements of the hot paths (a create, a status poll) are built once, with bound parameters:
# building a Core statement and its cache key anew costs several times what SQLite takes to run it.
_INSERT_JOB = sa.insert(jobs).returning(*jobs.c)
_GET_ANY = sa.select(*jobs.c).where(jobs.c.id == sa.bindparam("job_id"), jobs.c.deleted == sa.false())
_GET_OWN = _GET_ANY.where(jobs.c.account == sa.bindparam("account"))


def _get(conn: Connection, job_id: str, account: str | None) -> Job:
    return _found(conn.execute(*_get_query(job_id, account)).first(), job_id)


def _get_query(job_id: str, account: str | None) -> tuple[sa.Select[Any], dict[str, Any]]:
    """The lookup of ``job_id`` (visible to ``account``, or to anyone for None); a malformed id is
    simply not found."""
    if not _valid_id(job_id):
        raise JobNotFound(job_id)
    if account is None:
        return _GET_ANY, {"job_id": job_id}
    return _GET_OWN, {"job_id": job_id, "account": account}


def _found(row: Row[Any] | Mapping[str, Any] | None, job_id: str) -> Job:
    if row is None:
        raise JobNotFound(job_id)
    return _job(row)


def _cancel_values(now: float) -> dict[str, Any]:
    """SET clauses cancelling a queued job outright and flagging a running one; finished jobs keep their values."""
    queued = jobs.c.status == QUEUED
    unfinished = jobs.c.status.in_((QUEUED, IN_PROGRESS))
    return {
        "status": sa.case((queued, CANCELLED), else_=jobs.c.status),
        "cancel_requested": sa.case((unfinished, sa.true()), else_=jobs.c.cancel_requested),
        "completed_at": sa.case((queued, now), else_=jobs.c.completed_at),
        "error_code": sa.case((queued, "cancelled"), else_=jobs.c.error_code),
        "error_message": sa.case((queued, CANCEL_MESSAGE), else_=jobs.c.error_message),
        "updated_at": now,
    }


def _record(conn: Connection, job_id: str, account: str, status: str, *, progress: int, now: float,
            locked: bool = False) -> None:
    events.record(conn, job_id=job_id, account=account, type=status, status=status, progress=progress, now=now,
                  locked=locked)


def _record_end(conn: Connection, row: Row[Any], now: float, *, locked: bool = False) -> None:
    """The terminal event of the job in ``row`` (its state after the change) and its webhook deliveries.
    Called after the refund: the ordering lock that ``events.record`` takes must be the last one."""
    events.record(conn, job_id=row.id, account=row.account, type=row.status, status=row.status,
                  progress=row.progress, error_code=row.error_code, error_message=row.error_message, now=now,
                  locked=locked)
    outbox.enqueue(conn, job_id=row.id, account=row.account, status=row.status,
                   extras=(row.spec or {}).get("extras") or {}, now=now)


def _new_job(spec: JobSpec, account: str, surface: str, max_attempts: int, remixed_from: str | None,
             charge: int) -> dict[str, Any]:
    """The row of a job about to be queued."""
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
    now = time.time()
    return dict(
        id=uuid.uuid4().hex, account=account, surface=surface, status=QUEUED, spec=spec.to_dict(),
        progress=0, created_at=now, updated_at=now, attempts=0, max_attempts=max_attempts,
        cancel_requested=False, deleted=False, remixed_from=remixed_from, result=None, charge=charge,
    )


def _debit(conn: Connection, account: str, charge: int) -> None:
    """Take ``charge`` credits in one conditional UPDATE: concurrent creates can never overdraw."""
    a = accounts.c
    taken = conn.execute(
        sa.update(accounts).where(a.id == account, a.credits >= charge).values(credits=a.credits - charge)
        .returning(a.credits)
    ).first()
    if taken is None:
        _insufficient(conn, account, charge)


def _insufficient(conn: Connection, account: str, charge: int) -> NoReturn:
    available = conn.execute(sa.select(accounts.c.credits).where(accounts.c.id == account)).scalar()
    raise InsufficientCredits(required=charge, available=int(available or 0))


def _refund(conn: Connection, job_ids: builtins.list[str]) -> None:
    """Give back the charge of jobs that ended failed or cancelled, exactly once: the flag flips in
    the statement that reads the amount, inside the transaction that ended the job."""
    if not job_ids:
        return
    j = jobs.c
    rows = conn.execute(
        sa.update(jobs)
        .where(j.id.in_(job_ids), j.status.in_((FAILED, CANCELLED)), j.charge > 0, j.refunded == sa.false())
        .values(refunded=True)
        .returning(j.account, j.charge)
    ).all()
    for row in rows:
        conn.execute(sa.update(accounts).where(accounts.c.id == row.account, accounts.c.credits.is_not(None))
                     .values(credits=accounts.c.credits + row.charge))


def _close_attempts(conn: Connection, numbered: builtins.list[tuple[str, int]], now: float, outcome: str) -> None:
    t = attempts_table
    stmt = (
        sa.update(t)
        .where(t.c.job_id == sa.bindparam("j"), t.c.number == sa.bindparam("n"), t.c.ended_at.is_(None))
        .values(ended_at=now, outcome=outcome)
    )
    conn.execute(stmt, [{"j": job_id, "n": number} for job_id, number in numbered])


_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _valid_text(value: Any) -> Any:
    """Specs stored before the API checked text (issue 10) may hold lone surrogates, which no UTF-8
    response can carry: read them as U+FFFD, so one such job cannot break its account's list."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {k: _valid_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_valid_text(v) for v in value]
    return value


def _job(row: Row[Any] | Mapping[str, Any]) -> Job:
    """Columns are named after Job's fields; only the error pair and the JSON need translating. A
    row comes from SQLAlchemy or, by column name, from the loop's queries (store.loop_queries)."""
    m = dict(row._mapping if isinstance(row, Row) else row)
    code, message = m.pop("error_code"), m.pop("error_message")
    m.update(
        status=JobStatus(m["status"]),
        spec=JobSpec.from_dict(_valid_text(m["spec"])),
        error=JobError(code, message or "") if code else None,
        cancel_requested=bool(m["cancel_requested"]),
        deleted=bool(m["deleted"]),
        refunded=bool(m["refunded"]),
        result=m["result"] or {},
    )
    return Job(**m)
