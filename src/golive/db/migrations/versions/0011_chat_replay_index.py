"""Chat replay: an index of chat messages by stream and media time

Revision ID: 0011
Revises: 0010
Created: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision: str = "0011"
down_revision: str | tuple[str, ...] | None = "0010"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_chat_messages_stream_id_media_time", "chat_messages", ["stream_id", "media_time"]
    )


def downgrade() -> None:
    op.drop_index("ix_chat_messages_stream_id_media_time", table_name="chat_messages")
