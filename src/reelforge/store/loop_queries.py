"""Statements answered on the API's event loop, without a hop through the thread pool.

Status polls are most of an API's traffic (every SDK client polls about once a second), and
bench/serving.py showed where a poll's time went: not the query but the hop. Handing a sync route
to anyio's thread pool and back cost about 600 us of CPU per request on the 2-core CI machine
(1,445 us/request against 858 us with the same read on the loop), since each hop wakes a thread,
contends for the GIL with up to 40 others and wakes the loop again.

- SQLite: a read runs inline on the loop. It is a lookup by a unique key in a local WAL-mode
  file, tens of microseconds, and WAL readers do not wait for writers. A reader can still meet a
  lock (WAL recovery after a crash, a connection in exclusive locking mode), and a held loop holds
  every client, so the loop's own connection waits for no lock (busy_timeout 0): a read that finds
  one goes to the thread pool on the store's usual connections, which wait out busy_timeout as
  every other read does (tests/store/test_loop_queries.py holds such a lock for a second).
  Writes do not run here: SQLite's writers queue for one lock, which must not hold the loop.
- PostgreSQL: a query waits on the network, which must not stall the loop, so it runs on psycopg's
  async connections, from the pool of SQLAlchemy's asyncio engine. The statement is compiled once
  by SQLAlchemy and then sent on the driver's connection itself: SQLAlchemy's async execution
  layer (a greenlet per call, its result machinery) cost more than the query (938 against 475 us
  of CPU a read, one at a time). The pool skips the pre-ping that the sync pool does (a second
  round trip per checkout); a statement whose connection turns out dead is run once more on a
  fresh one. That is safe for a read; ``write`` takes only statements that
  are their own transaction and that the caller has made safe to run twice (the one-statement
  create of ``store.creates``: a second run after a commit whose answer was lost fails on the
  job's id instead of queueing it again).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import psycopg

import sqlalchemy as sa
from psycopg.rows import dict_row
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import QueuePool
from sqlalchemy.util import greenlet_spawn

# Connections the loop's pool keeps: the loop interleaves reads, and a point read holds a
# connection for one round trip, so a few serve many pollers (each one is a backend process).
# No overflow: a connection over the pool's size is closed when it is returned, so under load
# each read past the size would start a new backend (bench/serving.py saw 9x the database's CPU
# a poll at 64 clients with 10 + 10 overflow). Reads past the size queue at a semaphore, which is
# first come, first served; the pool's own wait is not (a read that has just arrived can take a
# returned connection from one that was woken for it, which then queues again at the back: p99
# at 64 clients was 2.0 s with 16 connections).
LOOP_POOL_SIZE = 16
# The store hands the loop a handful of constant statements (store._GET_ANY, creates.statement ...).
_COMPILED_KEPT = 64


class LoopQueries:
    def __init__(self, engine: Engine):
        self._engine = engine
        self._inline: Engine | None = None
        if engine.dialect.name == "sqlite":
            # One connection serves the loop (its reads never overlap); a second loop gets another.
            self._inline = sa.create_engine(engine.url, poolclass=QueuePool, pool_size=1, max_overflow=-1)
            sa.event.listen(self._inline, "connect", _loop_pragmas)
        # One asyncio engine per event loop: its connections belong to the loop that opened them.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._async: AsyncEngine | None = None
        self._turns: asyncio.Semaphore | None = None
        # Compiled statements by identity: the store's are module constants (a few per kind).
        self._compiled: dict[sa.Executable, tuple[Any, dict[str, Any]]] = {}

    async def first(self, query: sa.Executable, params: dict[str, Any]) -> Mapping[str, Any] | None:
        """The first row of a read, by column name."""
        if self._inline is not None:
            try:
                return _read(self._inline, query, params)
            except sa.exc.OperationalError:  # locked or busy: wait for it off the loop
                return await asyncio.to_thread(_read, self._engine, query, params)
        return await self._run(query, params)

    async def write(self, statement: sa.Executable, params: dict[str, Any]) -> Mapping[str, Any] | None:
        """The first row (by column name) of a statement that writes, in a transaction of its own (PostgreSQL only;
        see the module doc for what makes it safe to run twice)."""
        if self._inline is not None:
            raise TypeError("SQLite's writes do not run on the event loop")
        return await self._run(statement, params)

    async def _run(self, statement: sa.Executable, params: dict[str, Any]) -> Mapping[str, Any] | None:
        engine, turns = self._engine_for(asyncio.get_running_loop())
        sql, values = self._bound(statement, params)
        for attempt in (1, 2):
            async with turns:
                conn = await engine.raw_connection()
                try:
                    cursor = conn.driver_connection.cursor(row_factory=dict_row)
                    await cursor.execute(sql, values)
                    return await cursor.fetchone()
                except psycopg.Error as e:
                    dead = conn.driver_connection.broken
                    if dead:  # out of the pool with it; SQLAlchemy closes it in a greenlet of its own
                        await greenlet_spawn(conn.invalidate, e)
                    if attempt == 2 or not dead:
                        raise sa.exc.DBAPIError.instance(sql, values, e, psycopg.Error) from e
                finally:
                    conn.close()  # back to the pool: no reset to send (autocommit, pool_reset_on_return=None)
        raise AssertionError("unreachable")

    def _bound(self, statement: sa.Executable, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The statement's SQL text for the driver and its parameters as the driver takes them (what
        SQLAlchemy's execution would have sent), compiled once per statement."""
        compiled = self._compiled.get(statement)
        if compiled is None:
            if len(self._compiled) >= _COMPILED_KEPT:  # a caller building statements afresh must not grow it forever
                self._compiled.clear()
            dialect = self._engine.dialect
            done = statement.compile(dialect=dialect)
            processors = {key: process for key, bind in done.binds.items()
                          if (process := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None}
            compiled = self._compiled[statement] = (done, processors)
        done, processors = compiled
        values = done.construct_params(params)
        for key, process in processors.items():
            if key in values:
                values[key] = process(values[key])
        return done.string, values

    def close(self) -> None:
        if self._inline is not None:
            self._inline.dispose()

    def _engine_for(self, loop: asyncio.AbstractEventLoop) -> tuple[AsyncEngine, asyncio.Semaphore]:
        if self._async is None or self._loop is not loop:
            # A new loop (a test's, or a restarted server's) cannot use the old loop's connections;
            # they close when collected.
            # AUTOCOMMIT: a lone SELECT needs no transaction, and without one a read is one round trip
            # (no BEGIN before it, no ROLLBACK when its connection goes back to the pool).
            # No reset on return either: an autocommit connection has nothing to roll back.
            self._async = create_async_engine(self._engine.url, pool_size=LOOP_POOL_SIZE, max_overflow=0,
                                              isolation_level="AUTOCOMMIT", pool_reset_on_return=None)
            self._turns = asyncio.Semaphore(LOOP_POOL_SIZE)
            self._loop = loop
        assert self._turns is not None
        return self._async, self._turns


def _read(engine: Engine, query: sa.Executable, params: dict[str, Any]) -> Mapping[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(query, params).first()
    return None if row is None else row._mapping


def _loop_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout = 0")
    cur.execute("PRAGMA query_only = ON")  # it only ever reads; make that a guarantee
    cur.close()
