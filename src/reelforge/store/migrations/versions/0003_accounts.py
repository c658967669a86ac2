"""Accounts with hashed API keys and credits, per-job charges, rate-limit windows, idempotency keys.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("charge", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("refunded", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("key_prefix", sa.String(16), nullable=False),
        sa.Column("credits", sa.BigInteger(), nullable=True),
        sa.Column("rate_limit", sa.Integer(), nullable=False),
        sa.Column("rate_window", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("revoked_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_accounts_key_hash")),
        sa.CheckConstraint(sa.column("credits") >= 0, name=op.f("ck_accounts_credits_not_negative")),
    )
    op.create_table(
        "rate_windows",
        sa.Column("account", sa.String(128), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("account", "window_start", name=op.f("pk_rate_windows")),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("account", sa.String(128), nullable=False),
        sa.Column("route", sa.String(128), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("job_id", sa.String(32), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("account", "route", "key", name=op.f("pk_idempotency_keys")),
    )


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_table("rate_windows")
    op.drop_table("accounts")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("refunded")
        batch.drop_column("charge")
