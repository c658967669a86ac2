"""Characters (OpenAI's /v1/videos/characters): per account, with their clip and reference frame.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "characters",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("account", sa.String(128), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("video_key", sa.Text(), nullable=False),
        sa.Column("image_key", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_characters"),
    )
    op.create_index("ix_characters_account_created_at", "characters", ["account", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_characters_account_created_at", table_name="characters")
    op.drop_table("characters")
