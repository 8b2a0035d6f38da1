"""Clips: the clips table (copies of a recording's segments); channels.clip_permission

Revision ID: 0009
Revises: 0008
Created: 2026-12-12
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | tuple[str, ...] | None = "0008"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def upgrade() -> None:
    op.create_table(
        "clips",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "recording_id",
            sa.String(32),
            sa.ForeignKey("recordings.id", ondelete="SET NULL"),
            nullable=True,
            index=True,
        ),
        sa.Column(
            "channel_id",
            sa.Integer(),
            sa.ForeignKey("channels.id", ondelete="SET NULL"),
            nullable=True,
            index=True,
        ),
        sa.Column("channel", sa.String(32), nullable=False, index=True),
        sa.Column(
            "creator_id",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="SET NULL"),
            nullable=True,
            index=True,
        ),
        sa.Column("title", sa.String(200), server_default="", nullable=False),
        sa.Column("visibility", sa.String(16), server_default="public", nullable=False),
        sa.Column("start", sa.Float(), nullable=False),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False, index=True),
        sa.Column("views", sa.Integer(), server_default="0", nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("bytes", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("export_status", sa.String(16), server_default="", nullable=False),
        sa.Column("export_progress", sa.Float(), server_default="0", nullable=False),
        sa.Column("export_size", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("export_error", sa.String(500), server_default="", nullable=False),
    )
    with op.batch_alter_table("channels") as batch:
        batch.add_column(
            sa.Column("clip_permission", sa.String(16), server_default="everyone", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("channels") as batch:
        batch.drop_column("clip_permission")
    op.drop_table("clips")
