"""EventStreams over a real store: on PostgreSQL a NOTIFY wakes a waiting stream (the safety poll is
set far beyond the test's patience, so only the notification can), and stop() ends open streams."""

from __future__ import annotations

import asyncio

import pytest

from reelforge.jobs import JobStatus
from reelforge.service.events import EventStreams
from reelforge.service.videos import VideoService
from reelforge.settings import Settings
from reelforge.store import JobStore
from tests.store.test_contract import SPEC

NEVER = 3600.0  # a safety poll no test waits for


def _service(store: JobStore, tmp_path) -> VideoService:
    return VideoService.open(Settings(overrides={"data_dir": str(tmp_path)}, environ={}), store=store)


def test_on_postgresql_a_notification_wakes_a_waiting_stream_and_stop_ends_it(pg_store, tmp_path):
    streams = EventStreams(_service(pg_store, tmp_path), poll=NEVER)

    async def main() -> None:
        streams.start()
        try:
            everything = await streams.account("local")  # from now: nothing yet
            primer = await asyncio.to_thread(pg_store.create, SPEC)
            assert (await asyncio.wait_for(anext(everything), 60)).event.job_id == primer.id
            # The stream has read past the primer and now waits: only a wake-up can bring the next event
            # within the minute (the listener's own "connected" wake-up counts: it is a push too).
            waiting = asyncio.ensure_future(anext(everything))
            job = await asyncio.to_thread(pg_store.create, SPEC)  # another connection, as a worker's would be
            item = await asyncio.wait_for(waiting, 60)
            assert (item.event.job_id, item.event.type, item.event.seq, item.job) == (job.id, "queued", 1, None)

            own = await streams.job(job.id, account="local")
            assert (await asyncio.wait_for(anext(own), 60)).event == item.event  # a job's stream replays
            waiting = asyncio.ensure_future(anext(own))
            await asyncio.to_thread(pg_store.request_cancel, job.id)
            end = await asyncio.wait_for(waiting, 60)
            assert end.event.type == "cancelled" and end.job is not None and end.job.status is JobStatus.CANCELLED
            assert [i async for i in own] == []  # a job's stream ends after its terminal event
            assert (await asyncio.wait_for(anext(everything), 60)).event == end.event

            later = asyncio.ensure_future(anext(everything))
            await asyncio.to_thread(streams.stop)
            with pytest.raises(StopAsyncIteration):  # ended by stop(), not by the (hour-long) poll
                await asyncio.wait_for(later, 60)
        finally:
            streams.stop()

    asyncio.run(main())


def test_on_sqlite_streams_poll_and_a_job_with_no_events_gets_a_snapshot(tmp_path):
    store = JobStore(f"sqlite:///{tmp_path}/jobs.db")
    store.migrate()
    service = _service(store, tmp_path)
    streams = EventStreams(service)
    assert streams.poll == 0.25

    async def main() -> None:
        streams.start()
        try:
            job = store.create(SPEC)
            service.events.prune(job.created_at + 1)
            own = await streams.job(job.id, account="local")
            snap = await asyncio.wait_for(anext(own), 60)
            assert (snap.event.seq, snap.event.type, snap.job) == (0, "queued", None)
            waiting = asyncio.ensure_future(anext(own))
            await asyncio.to_thread(store.request_cancel, job.id)
            end = await asyncio.wait_for(waiting, 60)  # found by the poll: SQLite has no NOTIFY
            assert (end.event.seq, end.event.type) == (1, "cancelled") and end.job.status is JobStatus.CANCELLED
            assert await streams.job(job.id, account="local", after=1) is None  # the client saw the end
            assert await streams.job(job.id, account="local", after=0) is not None
        finally:
            streams.stop()

    asyncio.run(main())
    store.close()
