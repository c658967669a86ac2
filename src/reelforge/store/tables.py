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
    # Credits taken when the job was created, and whether they went back (failed or cancelled).
    sa.Column("charge", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("refunded", sa.Boolean(), nullable=False, server_default=sa.false()),
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
    # Set when the attempt ran in a batch (one pipeline call for several jobs): its id and size.
    sa.Column("batch_id", sa.String(32), nullable=True),
    sa.Column("batch_size", sa.Integer(), nullable=True),
)

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("key_prefix", sa.String(16), nullable=False),
    sa.Column("credits", sa.BigInteger(), nullable=True),  # NULL: unlimited
    sa.Column("rate_limit", sa.Integer(), nullable=False),
    sa.Column("rate_window", sa.Integer(), nullable=False),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("revoked_at", sa.Double(), nullable=True),
    sa.CheckConstraint(sa.column("credits") >= 0, name="credits_not_negative"),
)

# Fixed-window request counters, shared by every API replica through the database.
rate_windows = sa.Table(
    "rate_windows",
    metadata,
    sa.Column("account", sa.String(128), primary_key=True),
    sa.Column("window_start", sa.BigInteger(), primary_key=True),
    sa.Column("count", sa.Integer(), nullable=False),
)

# Idempotency-Key reservations: job_id is NULL while the first request is still in flight.
idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("account", sa.String(128), primary_key=True),
    sa.Column("route", sa.String(128), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("job_id", sa.String(32), nullable=True),
    sa.Column("created_at", sa.Double(), nullable=False),
)

# Every worker that has run against this store. A live one beats every few seconds (see
# store.workers); a row whose beat is old belongs to a worker that died or stopped.
workers = sa.Table(
    "workers",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer(), nullable=False),
    sa.Column("device", sa.String(64), nullable=False),
    sa.Column("models", sa.JSON(), nullable=False),  # resident models, most recently used last
    sa.Column("current_job", sa.String(32), nullable=True),
    sa.Column("started_at", sa.Double(), nullable=False),
    sa.Column("heartbeat_at", sa.Double(), nullable=False),
    sa.Column("stopped_at", sa.Double(), nullable=True),
)
sa.Index(None, workers.c.heartbeat_at)

# What happened to each job, in order: every status change and (about once a second) its progress,
# written in the transaction that made the change. SSE streams and webhooks read only this.
# ``id`` orders one account's events (its stream's cursor): on PostgreSQL the writers of one account
# take a lock until they commit, so ids become visible in order and a cursor never skips one.
job_events = sa.Table(
    "job_events",
    metadata,
    sa.Column("id", SeqType, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.String(32), nullable=False),
    sa.Column("seq", sa.Integer(), nullable=False),  # 1, 2, 3 ... within the job: its stream's cursor
    sa.Column("account", sa.String(128), nullable=False),
    sa.Column("type", sa.String(16), nullable=False),  # a status, or "progress"
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("progress", sa.Integer(), nullable=False),
    sa.Column("eta_at", sa.Double(), nullable=True),
    sa.Column("error_code", sa.String(64), nullable=True),
    sa.Column("error_message", sa.Text(), nullable=True),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.UniqueConstraint("job_id", "seq"),
    sqlite_autoincrement=True,
)
sa.Index(None, job_events.c.account, job_events.c.id)
sa.Index(None, job_events.c.created_at)

# An account's webhook endpoints (OpenAI's /v1/webhook_endpoints). The previous secret keeps signing
# until previous_secret_until, so receivers can switch to the new one without missing a delivery.
webhook_endpoints = sa.Table(
    "webhook_endpoints",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("account", sa.String(128), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("url", sa.Text(), nullable=False),
    sa.Column("event_types", sa.JSON(), nullable=False),
    sa.Column("secret", sa.String(128), nullable=False),
    sa.Column("previous_secret", sa.String(128), nullable=True),
    sa.Column("previous_secret_until", sa.Double(), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),  # active, or disabled (the receiver answered 410)
    sa.Column("disabled_reason", sa.Text(), nullable=True),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("updated_at", sa.Double(), nullable=True),
    sa.Column("deleted_at", sa.Double(), nullable=True),
)
sa.Index(None, webhook_endpoints.c.account, webhook_endpoints.c.created_at)

# The signing secret of an account's per-request webhooks (Novita's extra.webhook.url), made on first use.
webhook_secrets = sa.Table(
    "webhook_secrets",
    metadata,
    sa.Column("account", sa.String(128), primary_key=True),
    sa.Column("secret", sa.String(128), nullable=False),
    sa.Column("created_at", sa.Double(), nullable=False),
)

# The outbox: one row per (event, receiver), inserted in the transaction that ended the job, so a
# delivery exists exactly when its event does. ``id`` is the webhook-id header, the same on every
# retry. The body is rendered once, on the first attempt, and then sent byte for byte each time.
webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("account", sa.String(128), nullable=False),
    sa.Column("endpoint_id", sa.String(40), nullable=True),  # None: a per-request webhook
    sa.Column("url", sa.Text(), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # the body's shape: openai, novita
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("event_id", sa.String(40), nullable=False),
    sa.Column("job_id", sa.String(32), nullable=True),
    sa.Column("payload", sa.JSON(none_as_null=True), nullable=True),  # a body given up front (test events)
    sa.Column("body", sa.Text(), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),  # pending, delivered, failed
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.Double(), nullable=True),
    sa.Column("lease_owner", sa.String(128), nullable=True),
    sa.Column("lease_expires_at", sa.Double(), nullable=True),
    sa.Column("last_status_code", sa.Integer(), nullable=True),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("finished_at", sa.Double(), nullable=True),
)
sa.Index(None, webhook_deliveries.c.status, webhook_deliveries.c.next_attempt_at)
sa.Index(None, webhook_deliveries.c.account, webhook_deliveries.c.created_at)

# Each POST of a delivery, for its owner to inspect.
webhook_attempts = sa.Table(
    "webhook_attempts",
    metadata,
    sa.Column("delivery_id", sa.String(40), primary_key=True),
    sa.Column("number", sa.Integer(), primary_key=True),
    sa.Column("started_at", sa.Double(), nullable=False),
    sa.Column("duration_ms", sa.Integer(), nullable=False),
    sa.Column("status_code", sa.Integer(), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
)

# An account's characters (OpenAI's /v1/videos/characters): the uploaded clip and the reference frame
# taken from it at creation, both artifacts the character owns. A create that names a character runs
# image-to-video from its reference frame (service.characters).
characters = sa.Table(
    "characters",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("account", sa.String(128), nullable=False),
    sa.Column("name", sa.String(80), nullable=False),
    sa.Column("video_key", sa.Text(), nullable=False),
    sa.Column("image_key", sa.Text(), nullable=False),
    sa.Column("created_at", sa.Double(), nullable=False),
)
sa.Index(None, characters.c.account, characters.c.created_at)
