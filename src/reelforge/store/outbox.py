"""The webhook outbox: deliveries put in by the transaction that ended a job, worked off by deliverers.

A delivery is claimed with a lease like a job (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so any
number of deliverers share the work), and the claim counts the attempt: a deliverer that dies
mid-POST has used one, and once its lease lapses another deliverer takes the delivery up again.
Each POST's outcome is kept in ``webhook_attempts`` for the owner to read.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reelforge.errors import NotFound, shown
from reelforge.store.pages import newest_first
from reelforge.store.tables import webhook_attempts, webhook_deliveries, webhook_endpoints

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"

# A job's terminal status -> the OpenAI event type (a cancelled video reads as failed, as on polls).
EVENT_TYPES = {"completed": "video.completed", "failed": "video.failed", "cancelled": "video.failed"}
NOVITA_EVENT = "ASYNC_TASK_RESULT"
CHANNEL = "reelforge_outbox"  # NOTIFY'd where deliveries are added (PostgreSQL): see _notify
_NOTIFY = sa.text("SELECT pg_notify(:channel, '')")


if TYPE_CHECKING:  # the job store imports this module for ``enqueue``
    from reelforge.store.store import JobStore


class DeliveryNotFound(NotFound):
    def __init__(self, delivery_id: str):
        super().__init__(f"No webhook delivery found with id {shown(delivery_id)}.", param="delivery_id")


@dataclass(frozen=True)
class Delivery:
    id: str
    account: str
    endpoint_id: str | None
    url: str
    kind: str
    event_type: str
    event_id: str
    job_id: str | None
    payload: Any
    body: str | None
    status: str
    attempts: int
    next_attempt_at: float | None
    lease_owner: str | None
    lease_expires_at: float | None
    last_status_code: int | None
    last_error: str | None
    created_at: float
    finished_at: float | None


@dataclass(frozen=True)
class DeliveryAttempt:
    delivery_id: str
    number: int
    started_at: float
    duration_ms: int
    status_code: int | None
    error: str | None


def _new(account: str, url: str, kind: str, event_type: str, *, endpoint_id: str | None, job_id: str | None,
         now: float, payload: Any = None) -> dict[str, Any]:
    return dict(id="msg_" + uuid.uuid4().hex, account=account, endpoint_id=endpoint_id, url=url, kind=kind,
                event_type=event_type, event_id="evt_" + uuid.uuid4().hex, job_id=job_id, payload=payload, body=None,
                status=PENDING, attempts=0, next_attempt_at=now, created_at=now)


def enqueue(conn: Connection, *, job_id: str, account: str, status: str, extras: dict[str, Any], now: float) -> int:
    """Within the transaction that ended ``job_id`` with ``status``: one delivery per subscribed
    endpoint of the account, and one to the job's own webhook URL if it gave one. Returns how many."""
    event_type = EVENT_TYPES[status]
    c = webhook_endpoints.c
    endpoints = conn.execute(sa.select(c.id, c.url, c.event_types).where(
        c.account == account, c.status == "active", c.deleted_at.is_(None))).all()
    rows = [_new(account, e.url, "openai", event_type, endpoint_id=e.id, job_id=job_id, now=now)
            for e in endpoints if event_type in (e.event_types or [])]
    webhook = (extras or {}).get("webhook") or {}
    if webhook.get("url") and not (webhook.get("test_mode") or {}).get("enabled"):
        rows.append(_new(account, webhook["url"], "novita", NOVITA_EVENT, endpoint_id=None, job_id=job_id, now=now))
    if rows:
        conn.execute(sa.insert(webhook_deliveries), rows)
        _notify(conn)
    return len(rows)


def _notify(conn: Connection) -> None:
    """Wake the deliverers (PostgreSQL; delivered at commit). Only adding deliveries notifies this
    channel, so the job events that add none (every create, every progress step) wake no deliverer."""
    if conn.dialect.name == "postgresql":
        conn.execute(_NOTIFY, {"channel": CHANNEL})


class Outbox:
    def __init__(self, store: "JobStore"):
        self.store = store
        self.engine = store.engine

    def add(self, account: str, url: str, kind: str, event_type: str, *, payload: Any = None,
            endpoint_id: str | None = None, job_id: str | None = None, due: bool = True) -> Delivery:
        """A delivery not tied to a job's end (a test event, a Novita test-mode result); its body is
        ``payload`` as given, or its kind's rendering when None. ``due=False``: no deliverer takes its
        first attempt; its caller makes that one with ``claim(delivery_id=...)`` (retries are due as usual)."""
        row = _new(account, url, kind, event_type, endpoint_id=endpoint_id, job_id=job_id, now=time.time(),
                   payload=payload)
        if not due:
            row["next_attempt_at"] = None
        with self.store._write() as conn:
            conn.execute(sa.insert(webhook_deliveries).values(**row))
            if due:
                _notify(conn)
        return self.get(row["id"])

    def claim(self, owner: str, *, lease_seconds: float, limit: int = 10, delivery_id: str | None = None,
              now: float | None = None) -> list[Delivery]:
        """Take up to ``limit`` due deliveries (or the one ``delivery_id``, due or not) for ``owner``;
        each claim counts one attempt."""
        now = time.time() if now is None else now
        d = webhook_deliveries.c
        free = sa.or_(d.lease_expires_at.is_(None), d.lease_expires_at < now)
        if delivery_id is not None:
            due = sa.select(d.id).where(d.id == delivery_id, d.status == PENDING, free)
        else:
            due = (sa.select(d.id).where(d.status == PENDING, d.next_attempt_at <= now, free)
                   .order_by(d.next_attempt_at).limit(limit))
        with self.store._write() as conn:
            # Pick (and lock) first, then update. As one ``UPDATE ... WHERE id IN (SELECT ... LIMIT n
            # FOR UPDATE SKIP LOCKED)``, PostgreSQL may plan a semi-join that runs the subquery again
            # for every row, each run skipping the rows just claimed: it claimed far more than ``limit``.
            ids = conn.execute(due.with_for_update(skip_locked=True)).scalars().all()
            if not ids:
                return []
            stmt = (
                sa.update(webhook_deliveries)
                .where(d.id.in_(ids), d.status == PENDING, free)
                .values(lease_owner=owner, lease_expires_at=now + lease_seconds, attempts=d.attempts + 1)
                .returning(*webhook_deliveries.c)
            )
            rows = conn.execute(stmt).all()
        order = {delivery_id: i for i, delivery_id in enumerate(ids)}
        return sorted((_delivery(r) for r in rows), key=lambda r: order[r.id])

    def freeze_body(self, delivery_id: str, body: str) -> str:
        """Keep the body rendered for the first attempt; returns the kept one, so every retry sends the same bytes."""
        d = webhook_deliveries.c
        with self.store._write() as conn:
            conn.execute(sa.update(webhook_deliveries).where(d.id == delivery_id, d.body.is_(None)).values(body=body))
            return conn.execute(sa.select(d.body).where(d.id == delivery_id)).scalar_one()

    def finish_attempt(
        self, delivery: Delivery, owner: str, *, started_at: float, duration_ms: int, status_code: int | None,
        error: str | None, outcome: str, next_attempt_at: float | None = None,
    ) -> bool:
        """Record one POST and what follows it: ``outcome`` delivered, failed (no more tries) or
        pending (retry at ``next_attempt_at``). False if the lease was lost meanwhile (nothing written)."""
        if outcome not in (DELIVERED, FAILED, PENDING):
            raise ValueError(f"outcome must be delivered, failed or pending, got {outcome!r}")
        now = time.time()
        d = webhook_deliveries.c
        stmt = (
            sa.update(webhook_deliveries)
            .where(d.id == delivery.id, d.lease_owner == owner, d.status == PENDING)
            .values(status=outcome, next_attempt_at=next_attempt_at if outcome == PENDING else None,
                    last_status_code=status_code, last_error=error, lease_owner=None, lease_expires_at=None,
                    finished_at=None if outcome == PENDING else now)
            .returning(d.attempts)
        )
        with self.store._write() as conn:
            number = conn.execute(stmt).scalar()
            if number is None:
                return False
            conn.execute(sa.insert(webhook_attempts).values(
                delivery_id=delivery.id, number=number, started_at=started_at, duration_ms=duration_ms,
                status_code=status_code, error=error))
        return True

    def next_due(self) -> float | None:
        """When the earliest pending delivery falls due (epoch seconds), or None."""
        d = webhook_deliveries.c
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.min(d.next_attempt_at)).where(d.status == PENDING)).scalar()

    def get(self, delivery_id: str, account: str | None = None) -> Delivery:
        d = webhook_deliveries.c
        query = sa.select(webhook_deliveries).where(d.id == delivery_id)
        if account is not None:
            query = query.where(d.account == account)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise DeliveryNotFound(delivery_id)
        return _delivery(row)

    def list(self, account: str, *, endpoint_id: str | None = None, job_id: str | None = None,
             after: str | None = None, limit: int = 20) -> tuple[list[Delivery], bool]:
        """An account's deliveries, newest first, optionally of one endpoint or one job."""
        d = webhook_deliveries.c
        query = sa.select(webhook_deliveries).where(d.account == account)
        if endpoint_id is not None:
            query = query.where(d.endpoint_id == endpoint_id)
        if job_id is not None:
            query = query.where(d.job_id == job_id)
        with self.engine.connect() as conn:
            rows, more = newest_first(conn, webhook_deliveries, query, account=account, after=after, limit=limit,
                                      missing=DeliveryNotFound)
        return [_delivery(r) for r in rows], more

    def attempts(self, delivery_id: str) -> list[DeliveryAttempt]:
        a = webhook_attempts.c
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(webhook_attempts).where(a.delivery_id == delivery_id).order_by(a.number))
            return [DeliveryAttempt(**r._mapping) for r in rows]

    def prune(self, older_than: float) -> int:
        """Forget finished deliveries (and their attempts) that ended before ``older_than``."""
        d = webhook_deliveries.c
        old = sa.select(d.id).where(d.status != PENDING, d.finished_at < older_than)
        with self.store._write() as conn:
            conn.execute(sa.delete(webhook_attempts).where(webhook_attempts.c.delivery_id.in_(old)))
            return conn.execute(sa.delete(webhook_deliveries).where(d.id.in_(old))).rowcount


def _delivery(row: Any) -> Delivery:
    return Delivery(**row._mapping)
