"""VODs: recordings.views; channels.retention_days (the channel's own retention)

Revision ID: 0007
Revises: 0006
Created: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | tuple[str, ...] | None = "0006"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def upgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.add_column(sa.Column("views", sa.Integer(), server_default="0", nullable=False))
    with op.batch_alter_table("channels") as batch:
        batch.add_column(sa.Column("retention_days", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("channels") as batch:
        batch.drop_column("retention_days")
    with op.batch_alter_table("recordings") as batch:
        batch.drop_column("views")
