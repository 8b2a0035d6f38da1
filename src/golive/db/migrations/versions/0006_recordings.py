"""recordings: every live session's segments in storage, indexed here; channels.record

Revision ID: 0006
Revises: 0005
Created: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | tuple[str, ...] | None = "0005"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def upgrade() -> None:
    with op.batch_alter_table("channels") as batch:
        batch.add_column(sa.Column("record", sa.Boolean(), server_default="1", nullable=False))
    op.create_table(
        "recordings",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("stream_id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), server_default="", nullable=False),
        sa.Column("visibility", sa.String(length=16), server_default="public", nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("duration", sa.Float(), server_default="0", nullable=False),
        sa.Column("bytes", sa.BigInteger(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_recordings_channel_id_channels"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recordings")),
    )
    op.create_index(op.f("ix_recordings_channel_id"), "recordings", ["channel_id"])
    op.create_index(op.f("ix_recordings_channel"), "recordings", ["channel"])
    op.create_index(op.f("ix_recordings_stream_id"), "recordings", ["stream_id"])
    op.create_index(op.f("ix_recordings_status"), "recordings", ["status"])
    op.create_table(
        "recording_segments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recording_id", sa.String(length=32), nullable=False),
        sa.Column("rendition", sa.String(length=32), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("media_start", sa.BigInteger(), nullable=False),
        sa.Column("timescale", sa.Integer(), nullable=False),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("byte_size", sa.Integer(), nullable=False),
        sa.Column("program_date_time", sa.Float(), nullable=False),
        sa.Column("storage_key", sa.String(length=200), nullable=False),
        sa.Column("init_key", sa.String(length=200), nullable=False),
        sa.Column("discontinuity", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("gap_before", sa.Boolean(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["recordings.id"],
            name=op.f("fk_recording_segments_recording_id_recordings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recording_segments")),
        sa.UniqueConstraint(
            "recording_id",
            "rendition",
            "sequence",
            name=op.f("uq_recording_segments_recording_id_rendition_sequence"),
        ),
    )
    op.create_index(
        op.f("ix_recording_segments_recording_id"), "recording_segments", ["recording_id"]
    )


def downgrade() -> None:
    op.drop_table("recording_segments")
    op.drop_table("recordings")
    with op.batch_alter_table("channels") as batch:
        batch.drop_column("record")
