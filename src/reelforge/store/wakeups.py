"""Waking workers: idle ones when there is work, busy ones when their job is cancelled. PostgreSQL
LISTEN/NOTIFY, with polling as the safety net.

The store sends ``NOTIFY reelforge_jobs`` in the same transaction that queues a job (a create, a
hand-back, a requeued lease), so the notification arrives exactly when the job can be claimed, and
not at all if the transaction rolls back. A worker's ``Wakeups`` holds one listening connection
and turns each notification into an event its idle loop waits on. A notification can still be
missed (the listening connection drops and reconnects), so the wait always ends after a timeout
too, and the worker then looks for work anyway. SQLite has no NOTIFY: there ``wait`` is a plain
timed sleep, the in-process poll it always was.

A cancel (or delete) of a running job sends ``NOTIFY reelforge_cancels, '<job id>'`` in the
transaction that flags it. The worker running that job has asked ``watch_cancel`` to set an event
on it, which the job's per-step check reads, so a cancel stops the work at the next denoising step
instead of at the next heartbeat. The heartbeat still reads the flag: it is the safety net here too.
"""

from __future__ import annotations

import logging
import threading

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

CHANNEL = "reelforge_jobs"
CANCEL_CHANNEL = "reelforge_cancels"
log = logging.getLogger("reelforge.store")


def notify_queued(conn: Connection) -> None:
    """Within the transaction that queues a job; delivered when it commits (PostgreSQL only)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


def notify_cancelled(conn: Connection, job_id: str) -> None:
    """Within the transaction that flags a running job for cancel (PostgreSQL only)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_notify(:channel, :job)"), {"channel": CANCEL_CHANNEL, "job": job_id})


class Wakeups:
    def __init__(self, engine: Engine):
        self._event = threading.Event()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._cancels: dict[str, threading.Event] = {}
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

    def watch_cancel(self, job_id: str, cancelled: threading.Event) -> None:
        """Set ``cancelled`` when a cancel of ``job_id`` is notified (until ``unwatch_cancel``)."""
        self._cancels[job_id] = cancelled

    def unwatch_cancel(self, job_id: str) -> None:
        self._cancels.pop(job_id, None)

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
                    conn.execute(f"LISTEN {CANCEL_CHANNEL}")
                    # A job may have been queued while we were not listening: look once.
                    self._event.set()
                    while not self._closed.is_set():
                        for note in conn.notifies(timeout=1.0):
                            if note.channel == CANCEL_CHANNEL:
                                cancelled = self._cancels.get(note.payload)
                                if cancelled is not None:
                                    cancelled.set()
                            else:
                                self._event.set()
            except Exception as exc:  # the database went away: the safety poll covers the gap
                log.warning("listening for new jobs failed (%s); retrying in 1 s", exc)
                self._closed.wait(1.0)
