"""Accounts and their keys, balances and rate windows, on the job store's database.

Kept beside the job store (same engine, same write queue) because a charge must commit in the same
transaction as the job it pays for (see ``JobStore.create``).
"""

from __future__ import annotations

import builtins
import time
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from reelforge.accounts import Account, RateState, hash_key, new_key
from reelforge.errors import IdempotencyInFlight, IdempotencyMismatch, InvalidRequest, NotFound, shown
from reelforge.jobs import Job
from reelforge.store.store import JobStore, _get
from reelforge.store.tables import accounts, idempotency_keys, rate_windows

# A reservation whose request died (process killed mid-request) stops blocking its key after this.
STALE_RESERVATION = 120.0
# How long a key replays its job (Stripe's policy; API-COMPAT.md §8.1).
IDEMPOTENCY_TTL = 24 * 3600.0

# What every request asks (is the server keyed, whose key is this, how full is the window), built
# once with bound parameters: building a Core statement costs more than SQLite takes to run it.
_ANY = sa.select(accounts.c.id).limit(1)
_BY_KEY = sa.select(*accounts.c).where(accounts.c.key_hash == sa.bindparam("key_hash"), accounts.c.revoked_at.is_(None))
_WINDOW = sa.select(rate_windows.c.count).where(rate_windows.c.account == sa.bindparam("account"),
                                                rate_windows.c.window_start == sa.bindparam("start"))


class AccountStore:
    def __init__(self, store: JobStore):
        self.store = store
        self.engine = store.engine
        # Built once like the statements above; each create of a rate-limited key runs it.
        insert = (postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert)(rate_windows)
        self._hit = (
            insert.values(account=sa.bindparam("acct"), window_start=sa.bindparam("start"), count=1)
            .on_conflict_do_update(index_elements=["account", "window_start"], set_={"count": rate_windows.c.count + 1})
            .returning(rate_windows.c.count)
        )

    # --- keys ---

    def create(self, name: str, *, credits: int | None, rate_limit: int, rate_window: int) -> tuple[Account, str]:
        """A new account and its API key; the key is returned once and only its hash is kept."""
        if not name or len(name) > 128:
            raise InvalidRequest("An account name must have 1 to 128 characters.", param="name")
        if credits is not None and credits < 0:
            raise InvalidRequest(f"credits must be >= 0, got {credits}.", param="credits")
        key = new_key()
        row = dict(id="acct_" + uuid.uuid4().hex[:24], name=name, key_hash=hash_key(key), key_prefix=key[:10],
                   credits=credits, rate_limit=rate_limit, rate_window=rate_window, created_at=time.time())
        with self.store._write() as conn:
            conn.execute(sa.insert(accounts).values(**row))
        return _account(row), key

    def list(self) -> builtins.list[Account]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(*accounts.c).order_by(accounts.c.created_at)).all()
        return [_account(r._mapping) for r in rows]

    def revoke(self, ident: str) -> Account:
        """Revoke by account id or by the key's printed prefix."""
        a = accounts.c
        with self.store._write() as conn:
            row = conn.execute(
                sa.update(accounts).where(sa.or_(a.id == ident, a.key_prefix == ident), a.revoked_at.is_(None))
                .values(revoked_at=time.time()).returning(*accounts.c)
            ).first()
        if row is None:
            raise NotFound(f"No active account or key '{ident}'.")
        return _account(row._mapping)

    def any(self) -> bool:
        """Whether any key was ever created: from then on every request needs one."""
        with self.engine.connect() as conn:
            return conn.execute(_ANY).first() is not None

    def authenticate(self, key: str) -> Account | None:
        with self.engine.connect() as conn:
            row = conn.execute(_BY_KEY, {"key_hash": hash_key(key)}).first()
        return _account(row._mapping) if row is not None else None

    def get(self, account_id: str) -> Account:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(*accounts.c).where(accounts.c.id == account_id)).first()
        if row is None:
            raise NotFound(f"No account '{account_id}'.")
        return _account(row._mapping)

    def add_credits(self, account_id: str, credits: int) -> Account:
        a = accounts.c
        with self.store._write() as conn:
            row = conn.execute(
                sa.update(accounts).where(a.id == account_id, a.credits.is_not(None)).values(credits=a.credits + credits)
                .returning(*accounts.c)
            ).first()
        if row is None:
            raise NotFound(f"No metered account '{account_id}'.")
        return _account(row._mapping)

    # --- rate windows ---

    def hit(self, account: Account, now: float | None = None) -> RateState:
        """Count one request in the account's current window (atomically, across replicas)."""
        now = time.time() if now is None else now
        start = int(now // account.rate_window * account.rate_window)
        with self.store._write() as conn:
            count = conn.execute(self._hit, {"acct": account.id, "start": start}).scalar_one()
            if count == 1:  # first request of a window: drop the finished ones
                conn.execute(sa.delete(rate_windows).where(rate_windows.c.account == account.id,
                                                           rate_windows.c.window_start < start))
        return _state(account, start, count)

    def unhit(self, account: Account, state: RateState) -> RateState:
        """Take back one request counted by ``hit`` (the one that returned ``state``), in that same
        window: a create that was refused before it made anything does not use up the limit."""
        start = state.reset_at - state.window
        with self.store._write() as conn:
            count = conn.execute(
                sa.update(rate_windows)
                .where(rate_windows.c.account == account.id, rate_windows.c.window_start == start,
                       rate_windows.c.count > 0)
                .values(count=rate_windows.c.count - 1)
                .returning(rate_windows.c.count)
            ).scalar()
        return _state(account, start, count if count is not None else 0)

    def peek(self, account: Account, now: float | None = None) -> RateState:
        now = time.time() if now is None else now
        start = int(now // account.rate_window * account.rate_window)
        with self.engine.connect() as conn:
            count = conn.execute(_WINDOW, {"account": account.id, "start": start}).scalar()
        return _state(account, start, count or 0)

    # --- idempotency ---

    def reserve(self, account: str, route: str, key: str, fingerprint: str) -> Job | None:
        """Claim ``key`` for this request: None means go ahead (then ``JobStore.create(idempotency=...)``
        binds the job, or ``unreserve`` frees the key); a Job means replay it.

        Raises IdempotencyMismatch for the same key with another payload, and IdempotencyInFlight
        while the first request is still being processed.

        The claim is one upsert: it inserts the key, or takes over a row that no longer holds it (the
        key's 24 h are over, or a reservation with this payload went stale without a job), and returns
        a row only when this request won. Concurrent requests with one key therefore cannot both
        proceed, and none of them meets a unique violation, on SQLite or PostgreSQL. A loser then
        reads the winner's row to tell a replay from a conflict.
        """
        k = idempotency_keys.c
        now = time.time()
        insert = (postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert)(idempotency_keys)
        claim = (
            insert.values(account=account, route=route, key=key, fingerprint=fingerprint, job_id=None, created_at=now)
            .on_conflict_do_update(
                index_elements=["account", "route", "key"],
                set_={"fingerprint": insert.excluded.fingerprint, "job_id": None,
                      "created_at": insert.excluded.created_at},
                # A stale reservation with another payload still answers 422: the first caller
                # may yet retry it, and a reused key must never silently change meaning.
                where=sa.or_(k.created_at < now - IDEMPOTENCY_TTL,
                             sa.and_(k.job_id.is_(None), k.fingerprint == fingerprint,
                                     k.created_at < now - STALE_RESERVATION)),
            )
            .returning(k.key)
        )
        where = (k.account == account, k.route == route, k.key == key)
        # The holder may free the key (``unreserve``) between our claim and our read; then claim again.
        for _ in range(3):
            with self.store._write() as conn:
                won = conn.execute(claim).first() is not None
            if won:
                # Housekeeping in its own transaction, so a claim never waits on other keys' rows.
                with self.store._write() as conn:
                    conn.execute(sa.delete(idempotency_keys).where(k.created_at < now - IDEMPOTENCY_TTL))
                return None
            with self.engine.connect() as conn:
                row = conn.execute(sa.select(k.fingerprint, k.job_id).where(*where)).first()
                if row is None:
                    continue
                if row.fingerprint != fingerprint:
                    raise IdempotencyMismatch(
                        f"Idempotency-Key {shown(key)} was already used with a different request; use a new key for a "
                        "new request.", param="Idempotency-Key")
                if row.job_id is not None:
                    return _get(conn, row.job_id, None)
                break
        raise IdempotencyInFlight(
            f"A request with Idempotency-Key {shown(key)} is still being processed; retry shortly.",
            param="Idempotency-Key")

    def unreserve(self, account: str, route: str, key: str) -> None:
        """Free a key whose request failed before a job existed, so a corrected retry can use it."""
        k = idempotency_keys.c
        with self.store._write() as conn:
            conn.execute(sa.delete(idempotency_keys).where(
                k.account == account, k.route == route, k.key == key, k.job_id.is_(None)))


def _state(account: Account, start: int, count: int) -> RateState:
    return RateState(limit=account.rate_limit, remaining=account.rate_limit - count,
                     reset_at=start + account.rate_window, window=account.rate_window)


def _account(m: Any) -> Account:
    return Account(id=m["id"], name=m["name"], credits=m["credits"], rate_limit=m["rate_limit"],
                   rate_window=m["rate_window"], key_prefix=m["key_prefix"], created_at=m["created_at"],
                   revoked_at=m.get("revoked_at"))
