"""Newest-first keyset pages over a table with ``created_at``, ``id`` and ``account`` columns: the
cursor is an id the caller saw, and rows are compared on (created_at, id), so rows written between
two page reads neither repeat nor slip past."""

from __future__ import annotations

from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def newest_first(conn: Connection, table: sa.Table, query: sa.Select, *, account: str, after: str | None,
                 limit: int, missing: Callable[[str], Exception]) -> tuple[list[Any], bool]:
    """``limit`` rows of ``query`` after the row ``after`` (of ``account``; else ``missing(after)``
    is raised), and whether more follow."""
    c = table.c
    if after is not None:
        cursor = conn.execute(sa.select(c.created_at, c.id).where(c.id == after, c.account == account)).first()
        if cursor is None:
            raise missing(after)
        query = query.where(sa.tuple_(c.created_at, c.id) < sa.tuple_(cursor.created_at, cursor.id))
    rows = conn.execute(query.order_by(c.created_at.desc(), c.id.desc()).limit(limit + 1)).all()
    return rows[:limit], len(rows) > limit
