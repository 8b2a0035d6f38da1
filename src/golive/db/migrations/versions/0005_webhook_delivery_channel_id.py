"""webhook deliveries: the id of the channel an event was about

Owners see the delivery log by channel id: a channel created again under a deleted one's
name must not see the earlier channel's events. Existing rows get the id of the channel of
that name only if it existed when the event was logged; the rest stay for administrators.

Revision ID: 0005
Revises: 0004
Created: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | tuple[str, ...] | None = "0004"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.add_column(sa.Column("channel_id", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_webhook_deliveries_channel_id"), ["channel_id"])
        batch.create_foreign_key(
            batch.f("fk_webhook_deliveries_channel_id_channels"),
            "channels",
            ["channel_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.execute(
        """
        UPDATE webhook_deliveries SET channel_id = (
            SELECT channels.id FROM channels
            WHERE channels.name = webhook_deliveries.channel
              AND channels.created_at <= webhook_deliveries.created_at
        )
        WHERE channel IS NOT NULL
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_constraint(
            batch.f("fk_webhook_deliveries_channel_id_channels"), type_="foreignkey"
        )
        batch.drop_index(batch.f("ix_webhook_deliveries_channel_id"))
        batch.drop_column("channel_id")
