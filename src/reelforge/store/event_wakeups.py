"""Waking event streams: one PostgreSQL LISTEN connection per API process, for every stream it serves.

``events.record`` sends ``NOTIFY reelforge_events, '<account>'`` in the transaction that writes an
account's events, so the notification arrives when they can be read, from whichever machine wrote
them (a worker elsewhere, another API replica). ``EventWakeups`` runs one listening thread and
calls ``wake(account)`` for each notification, and ``wake(None)`` (everyone) once it has connected
or reconnected, since notifications sent while it was not listening are lost. The streams still
look at the store every few seconds on their own: that safety poll covers a dead connection.

The webhook deliverer listens the same way on its own channel, ``outbox.CHANNEL``, which only
the transactions that add deliveries notify: job events do not wake it for nothing.

SQLite has no NOTIFY, and its workers are other processes: there is no thread, ``pushed`` is
False and the streams poll.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

from sqlalchemy.engine import Engine

from .events import CHANNEL

log = logging.getLogger("reelforge.store")


class EventWakeups:
    def __init__(self, engine: Engine, wake: Callable[[str | None], None], channel: str = CHANNEL):
        self._wake = wake
        self._channel = channel
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._dsn: str | None = None
        if engine.dialect.name == "postgresql":
            # psycopg's own DSN form of the store's URL (SQLAlchemy's has the "+psycopg" driver suffix).
            self._dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)

    @property
    def pushed(self) -> bool:
        """Whether notifications wake the streams (PostgreSQL), so their safety poll can be slow."""
        return self._dsn is not None

    def start(self) -> None:
        if self._dsn is None or self._thread is not None:
            return
        self._closed.clear()
        self._thread = threading.Thread(target=self._listen, name="event-listen", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._closed.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _listen(self) -> None:
        import psycopg  # only the PostgreSQL store has a driver to listen with

        assert self._dsn is not None
        while not self._closed.is_set():
            try:
                with psycopg.connect(self._dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {self._channel}")
                    self._wake(None)
                    while not self._closed.is_set():
                        for note in conn.notifies(timeout=1.0):
                            self._wake(note.payload)
            except Exception as exc:  # the database went away: the streams' safety poll covers the gap
                log.warning("listening for job events failed (%s); retrying in 1 s", exc)
                self._closed.wait(1.0)
