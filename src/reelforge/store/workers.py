"""The worker registry: who is working against this store, on what, and whether it still lives.

Each worker upserts its row on every beat (``beat``), so a row appears with the first one and a
restarted store loses nothing it needs. A worker is live while its last beat is younger than
``ttl``; a worker that stops cleanly says so (``stopped``), one that dies just stops beating.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from reelforge.store.store import JobStore
from reelforge.store.tables import workers


@dataclass(frozen=True)
class WorkerInfo:
    id: str
    host: str
    pid: int
    device: str
    models: list[str]
    current_job: str | None
    started_at: float
    heartbeat_at: float
    stopped_at: float | None

    def live(self, ttl: float, now: float | None = None) -> bool:
        return self.stopped_at is None and self.heartbeat_at > (time.time() if now is None else now) - ttl


class WorkerRegistry:
    def __init__(self, store: JobStore):
        self.store = store
        self.engine = store.engine

    def beat(self, worker_id: str, *, host: str, pid: int, device: str, models: list[str],
             current_job: str | None, started_at: float) -> None:
        now = time.time()
        insert = (postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert)(workers)
        values: dict[str, Any] = {"device": device, "models": list(models), "current_job": current_job,
                                  "heartbeat_at": now}
        stmt = insert.values(id=worker_id, host=host, pid=pid, started_at=started_at, stopped_at=None, **values)
        with self.store._write() as conn:
            conn.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=values))

    def stopped(self, worker_id: str) -> None:
        with self.store._write() as conn:
            conn.execute(sa.update(workers).where(workers.c.id == worker_id)
                         .values(stopped_at=time.time(), current_job=None))

    def list(self) -> list[WorkerInfo]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(workers).order_by(workers.c.started_at.desc())).all()
        return [WorkerInfo(**row._mapping) for row in rows]

    def live_count(self, ttl: float) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(workers).where(
                workers.c.stopped_at.is_(None), workers.c.heartbeat_at > time.time() - ttl)).scalar_one()
