"""The job store's schema as SQLAlchemy Core tables.

The migrations in ``migrations/versions`` create the same schema; a contract test
compares the two, so change both together.
"""

from __future__ import annotations

import sqlalchemy as sa

# Explicit constraint names so migrations (and SQLite batch rebuilds) can refer to them.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING)

# SQLite only turns INTEGER PRIMARY KEY (not BIGINT) into an auto-assigned rowid.
SeqType = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

STATUSES = ("queued", "in_progress", "completed", "failed", "cancelled")

jobs = sa.Table(
    "jobs",
    metadata,
    # The queue order and the pagination cursor: unlike created_at it never ties.
    sa.Column("seq", SeqType, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(32), nullable=False, unique=True),
    sa.Column("account", sa.String(128), nullable=False),
    sa.Column("surface", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("spec", sa.JSON(), nullable=False),
    sa.Column("progress", sa.Integer(), nullable=False, server_default="0"),
    # An absolute time (not seconds left) so it stays right between heartbeats; None until measured.
    sa.Column("eta_at", sa.Double(), nullable=True),
    sa.Column("error_code", sa.String(64), nullable=True),
    sa.Column("error_message", sa.Text(), nullable=True),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("started_at", sa.Double(), nullable=True),
    sa.Column("completed_at", sa.Double(), nullable=True),
    sa.Column("updated_at", sa.Double(), nullable=True),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("max_attempts", sa.Integer(), nullable=False),
    sa.Column("lease_owner", sa.String(128), nullable=True),
    sa.Column("lease_expires_at", sa.Double(), nullable=True),
    sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("deleted", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("remixed_from", sa.String(32), nullable=True),
    sa.Column("result", sa.JSON(none_as_null=True), nullable=True),
    sa.CheckConstraint(sa.column("status").in_(STATUSES), name="status"),
    sqlite_autoincrement=True,  # never reuse a seq, so a cursor can't jump back in time
)
sa.Index(None, jobs.c.status, jobs.c.seq)
sa.Index(None, jobs.c.account, jobs.c.seq)

attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column("job_id", sa.String(32), sa.ForeignKey("jobs.id"), primary_key=True),
    sa.Column("number", sa.Integer(), primary_key=True),
    sa.Column("worker_id", sa.String(128), nullable=False),
    sa.Column("started_at", sa.Double(), nullable=False),
    sa.Column("ended_at", sa.Double(), nullable=True),
    sa.Column("outcome", sa.String(16), nullable=True),
)
