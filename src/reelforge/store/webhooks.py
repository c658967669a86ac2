"""Webhook endpoints (per account, OpenAI's shape) and the per-request webhook secret of each account.

Endpoints are soft-deleted, so the deliveries that named one keep their history. Every query takes
the owning account: another account's endpoint reads as missing.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from reelforge.errors import NotFound, shown
from reelforge.store.pages import newest_first
from reelforge.store.store import JobStore
from reelforge.store.tables import webhook_endpoints, webhook_secrets

ACTIVE = "active"
DISABLED = "disabled"


class EndpointNotFound(NotFound):
    def __init__(self, endpoint_id: str):
        super().__init__(f"No webhook endpoint found with id {shown(endpoint_id)}.", param="webhook_endpoint_id")


@dataclass(frozen=True)
class Endpoint:
    id: str
    account: str
    name: str
    url: str
    event_types: list[str]
    secret: str
    previous_secret: str | None
    previous_secret_until: float | None
    status: str
    disabled_reason: str | None
    created_at: float
    updated_at: float | None
    deleted_at: float | None

    def secrets(self, now: float | None = None) -> list[str]:
        """The secrets a delivery is signed with now: the current one, and the previous one in its grace period."""
        now = time.time() if now is None else now
        if self.previous_secret and self.previous_secret_until and self.previous_secret_until > now:
            return [self.secret, self.previous_secret]
        return [self.secret]


class WebhookEndpoints:
    def __init__(self, store: JobStore):
        self.store = store
        self.engine = store.engine

    def create(self, account: str, *, name: str, url: str, event_types: list[str], secret: str) -> Endpoint:
        now = time.time()
        row = dict(id="we_" + uuid.uuid4().hex, account=account, name=name, url=url, event_types=list(event_types),
                   secret=secret, previous_secret=None, previous_secret_until=None, status=ACTIVE,
                   disabled_reason=None, created_at=now, updated_at=now, deleted_at=None)
        with self.store._write() as conn:
            conn.execute(sa.insert(webhook_endpoints).values(**row))
        return Endpoint(**row)

    def get(self, endpoint_id: str, account: str) -> Endpoint:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(webhook_endpoints).where(*_visible(endpoint_id, account))).first()
        if row is None:
            raise EndpointNotFound(endpoint_id)
        return _endpoint(row)

    def list(self, account: str, *, after: str | None = None, limit: int = 20) -> tuple[list[Endpoint], bool]:
        """Newest first, ``limit`` at a time after the endpoint ``after``; and whether more follow."""
        c = webhook_endpoints.c
        query = sa.select(webhook_endpoints).where(c.account == account, c.deleted_at.is_(None))
        with self.engine.connect() as conn:
            rows, more = newest_first(conn, webhook_endpoints, query, account=account, after=after, limit=limit,
                                      missing=EndpointNotFound)
        return [_endpoint(r) for r in rows], more

    def update(self, endpoint_id: str, account: str, **values: Any) -> Endpoint:
        """Change any of name, url, event_types, status (re-enabling clears the disabled reason)."""
        allowed = {"name", "url", "event_types", "status"}
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        if values.get("status") == ACTIVE:
            values["disabled_reason"] = None
        return self._update(endpoint_id, account, updated_at=time.time(), **values)

    def rotate_secret(self, endpoint_id: str, account: str, *, secret: str, grace_seconds: float) -> Endpoint:
        """A new secret; the old one keeps signing for ``grace_seconds`` (0: it stops now)."""
        now = time.time()
        c = webhook_endpoints.c
        return self._update(endpoint_id, account, secret=secret, previous_secret=c.secret,
                            previous_secret_until=now + grace_seconds if grace_seconds > 0 else None, updated_at=now)

    def delete(self, endpoint_id: str, account: str) -> Endpoint:
        return self._update(endpoint_id, account, deleted_at=time.time())

    def disable(self, endpoint_id: str, reason: str) -> None:
        """The receiver said it is gone (HTTP 410): stop sending until its owner re-enables it."""
        c = webhook_endpoints.c
        with self.store._write() as conn:
            conn.execute(sa.update(webhook_endpoints).where(c.id == endpoint_id)
                         .values(status=DISABLED, disabled_reason=reason, updated_at=time.time()))

    def find(self, endpoint_id: str) -> Endpoint | None:
        """Any account's endpoint, deleted ones included: for the deliverer, which acts for every account."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)).first()
        return None if row is None else _endpoint(row)

    def _update(self, endpoint_id: str, account: str, **values: Any) -> Endpoint:
        stmt = (sa.update(webhook_endpoints).where(*_visible(endpoint_id, account)).values(**values)
                .returning(*webhook_endpoints.c))
        with self.store._write() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            raise EndpointNotFound(endpoint_id)
        return _endpoint(row)

    # --- the account's secret for per-request webhooks ---

    def account_secret(self, account: str, new_secret: str) -> str:
        """The account's per-request webhook secret; ``new_secret`` becomes it if it has none yet."""
        query = sa.select(webhook_secrets.c.secret).where(webhook_secrets.c.account == account)
        # Read first: the secret is made once per account and read on every per-request delivery, and
        # a write would take SQLite's one write lock each time.
        with self.engine.connect() as conn:
            secret = conn.execute(query).scalar_one_or_none()
        if secret is not None:
            return secret
        insert = (postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert)(webhook_secrets)
        with self.store._write() as conn:
            conn.execute(insert.values(account=account, secret=new_secret, created_at=time.time())
                         .on_conflict_do_nothing(index_elements=["account"]))
            return conn.execute(query).scalar_one()


def _visible(endpoint_id: str, account: str) -> list[Any]:
    c = webhook_endpoints.c
    return [c.id == endpoint_id, c.account == account, c.deleted_at.is_(None)]


def _endpoint(row: Any) -> Endpoint:
    return Endpoint(**row._mapping)
