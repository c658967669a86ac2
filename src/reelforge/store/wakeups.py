"""Waking idle workers when there is work: PostgreSQL LISTEN/NOTIFY, with polling as the safety net.

The store sends ``NOTIFY reelforge_jobs`` in the same transaction that queues a job (a create, a
hand-back, a requeued lease), so the notification arrives exactly when the job can be claimed, and
not at all if the transaction rolls back. A worker's ``Wakeups`` holds one listening connection
and turns each notification into an event its idle loop waits on. A notification can still be
missed (the listening connection drops and reconnects), so the wait always ends after a timeout
too, and the worker then looks for work anyway. SQLite has no NOTIFY: there ``wait`` is a plain
timed sleep, the in-process poll it always was.
"""

from __future__ import annotations

import logging
import threading

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

CHANNEL = "reelforge_jobs"
log = logging.getLogger("reelforge.store")


def notify_queued(conn: Connection) -> None:
    """Within the transaction that queues a job; delivered when it commits (PostgreSQL only)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


class Wakeups:
    def __init__(self, engine: Engine):
        self._event = threading.Event()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        if engine.dialect.name == "postgresql":
            # psycopg's own DSN form of the store's URL (SQLAlchemy's has the "+psycopg" driver suffix).
            self._dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
            self._thread = threading.Thread(target=self._listen, name="store-listen", daemon=True)
            self._thread.start()

    @property
    def pushed(self) -> bool:
        """Whether notifications wake this worker (PostgreSQL), so the safety poll can be slow."""
        return self._thread is not None

    def wait(self, timeout: float) -> bool:
        """Until a job may be waiting, at most ``timeout`` seconds; True if a notification came."""
        woken = self._event.wait(timeout)
        self._event.clear()
        return woken

    def wake(self) -> None:
        self._event.set()

    def close(self) -> None:
        self._closed.set()
        self._event.set()
        if self._thread is not None:
            self._thread.join(5)

    def _listen(self) -> None:
        import psycopg  # only the PostgreSQL store has a driver to listen with

        while not self._closed.is_set():
            try:
                with psycopg.connect(self._dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    # A job may have been queued while we were not listening: look once.
                    self._event.set()
                    while not self._closed.is_set():
                        for _ in conn.notifies(timeout=1.0):
                            self._event.set()
            except Exception as exc:  # the database went away: the safety poll covers the gap
                log.warning("listening for new jobs failed (%s); retrying in 1 s", exc)
                self._closed.wait(1.0)
