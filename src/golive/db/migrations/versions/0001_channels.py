"""channels

Revision ID: 0001
Revises:
Created: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | tuple[str, ...] | None = None
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def upgrade() -> None:
    op.create_table(
        "channels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), server_default="", nullable=False),
        sa.Column("stream_key_hash", sa.String(length=64), nullable=False),
        sa.Column("stream_key_hint", sa.String(length=16), nullable=False),
        # Naive UTC; golive.db.models.UTCDateTime adds the timezone back when reading.
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("key_rotated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channels")),
        sa.UniqueConstraint("name", name=op.f("uq_channels_name")),
    )
    op.create_index(
        op.f("ix_channels_stream_key_hash"), "channels", ["stream_key_hash"], unique=True
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_channels_stream_key_hash"), table_name="channels")
    op.drop_table("channels")
