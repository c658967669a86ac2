"""Live job events: the streams behind the SSE routes, read from the store's durable event record.

Every event a stream sends was read from the store (``EventLog``), never handed over in memory, so
a stream served by any API replica sees a job run by a worker on any machine, and a reconnect
resumes exactly where the client's cursor says. What is live is only the waking: each open stream
waits on an ``asyncio.Event`` of its own, grouped by account, and reads again when it is set.

- PostgreSQL: ``store.event_wakeups`` holds one LISTEN connection for the whole process and reports
  each account's notifications from its thread; ``loop.call_soon_threadsafe`` hands them to the event
  loop, which wakes that account's streams. A stream also reads every ``SAFETY_POLL`` seconds, in case
  a notification was lost while the connection was down.
- SQLite: no NOTIFY, and the workers are other processes, so each stream reads every ``SQLITE_POLL``
  seconds. Both reads are one indexed query.

A stream clears its event before it reads, so a wake-up that lands while it reads or sends is kept
for its next wait instead of being lost. ``stop`` (server shutdown) wakes every stream and each one
ends cleanly after the event it is sending.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from ..errors import JobNotFound
from ..jobs import Job
from ..store import Event
from ..store.event_wakeups import EventWakeups
from .videos import VideoService

SAFETY_POLL = 5.0
SQLITE_POLL = 0.25
# Events read per query; a stream that got a full batch reads on at once instead of waiting.
BATCH = 200


@dataclass(frozen=True)
class StreamItem:
    """One event for a stream, and on a terminal event the job as a poll would show it now (None if it
    was deleted since)."""

    event: Event
    job: Job | None = None


def snapshot(job: Job) -> StreamItem:
    """An event built from the job row, for a job with no recorded events (made before events existed,
    or its events pruned by retention): seq and id 0, so a resume from it replays whatever comes next."""
    error = job.error
    event = Event(id=0, job_id=job.id, seq=0, account=job.account, type=job.status.value, status=job.status.value,
                  progress=job.progress, eta_at=job.eta_at, error_code=error.code if error else None,
                  error_message=error.message if error else None,
                  created_at=job.updated_at or job.created_at or time.time())
    return StreamItem(event, job if job.finished else None)


class EventStreams:
    """The API process's event streams; started and stopped with the server (``api.app.Background``)."""

    def __init__(self, service: VideoService, *, poll: float | None = None):
        self._service = service
        self._log = service.events
        self._wakeups = EventWakeups(service.store.engine, self._notified)
        self.poll = poll if poll is not None else SAFETY_POLL if self._wakeups.pushed else SQLITE_POLL
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._stopped = False

    # --- Background ---------------------------------------------------------------------------

    def start(self) -> None:
        """On the event loop that serves the streams (the app's lifespan runs there)."""
        self._loop = asyncio.get_running_loop()
        self._stopped = False
        self._wakeups.start()

    def stop(self) -> None:
        """From any thread: every open stream ends after the event it is sending; new ones end at once."""
        self._stopped = True
        self._wakeups.stop()
        self._notified(None)

    # --- the streams --------------------------------------------------------------------------

    async def job(self, job_id: str, *, account: str, after: int | None = None) -> AsyncIterator[StreamItem] | None:
        """The events of one job after seq ``after`` (None: from its start), ending after its terminal
        event. Raises JobNotFound now, before any response starts, for a missing or foreign job.
        None when the client has seen the end already (``after`` given, the job finished, nothing newer)."""
        job = await asyncio.to_thread(self._service.get, job_id, account=account)
        if after is not None and job.finished and not await asyncio.to_thread(self._log.for_job, job.id, after=after,
                                                                                limit=1):
            return None
        return self._job_stream(job, after or 0)

    async def account(self, account: str, *, after: int | None = None) -> AsyncIterator[StreamItem]:
        """Every event of ``account``'s jobs after event id ``after`` (None: from now on); never ends by
        itself."""
        cursor = await asyncio.to_thread(self._log.last_id, account) if after is None else after
        return self._account_stream(account, cursor)

    async def _job_stream(self, job: Job, cursor: int) -> AsyncIterator[StreamItem]:
        with self._subscribed(job.account) as woken:
            looked = False
            while not self._stopped:
                woken.clear()
                batch = await asyncio.to_thread(self._log.for_job, job.id, after=cursor, limit=BATCH)
                for event in batch:
                    yield await self._item(event)
                    cursor = event.seq
                    if event.terminal:
                        return
                if not batch and not looked:
                    # ``job`` was read before this first look, so if it had finished by then its terminal
                    # event was already recorded (the same transaction): nothing newer means nothing more.
                    looked = True
                    if not await asyncio.to_thread(self._log.for_job, job.id, limit=1):
                        yield snapshot(job)
                        if job.finished:
                            return
                    elif job.finished:
                        return
                if len(batch) < BATCH:
                    await self._wait(woken)

    async def _account_stream(self, account: str, cursor: int) -> AsyncIterator[StreamItem]:
        with self._subscribed(account) as woken:
            while not self._stopped:
                woken.clear()
                batch = await asyncio.to_thread(self._log.for_account, account, after=cursor, limit=BATCH)
                for event in batch:
                    yield await self._item(event)
                    cursor = event.id
                if len(batch) < BATCH:
                    await self._wait(woken)

    async def _item(self, event: Event) -> StreamItem:
        if not event.terminal:
            return StreamItem(event)
        try:
            job = await asyncio.to_thread(self._service.get, event.job_id, account=event.account)
        except JobNotFound:  # deleted since: its events stay readable until retention prunes them
            job = None
        return StreamItem(event, job)

    # --- waking -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _subscribed(self, account: str) -> Iterator[asyncio.Event]:
        woken = asyncio.Event()
        self._waiting[account].add(woken)
        try:
            yield woken
        finally:
            group = self._waiting.get(account)
            if group is not None:
                group.discard(woken)
                if not group:
                    del self._waiting[account]

    async def _wait(self, woken: asyncio.Event) -> None:
        if self._stopped:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(woken.wait(), self.poll)

    def _notified(self, account: str | None) -> None:
        """From any thread: events of ``account`` (None: of anyone) may be waiting to be read."""
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop has closed: no stream is left to wake
            loop.call_soon_threadsafe(self._wake, account)

    def _wake(self, account: str | None) -> None:
        groups = list(self._waiting.values()) if account is None else [self._waiting.get(account, set())]
        for group in groups:
            for woken in group:
                woken.set()
