"""recordings.fence_token: the publish lease token its writer holds (recording fencing)

A node that took a channel over continues its recording with a larger token; index writes
carrying a smaller one (a paused node waking up) are refused. Existing recordings get 0, the
token of a single process.

Revision ID: 0014
Revises: 0013
Created: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | tuple[str, ...] | None = "0013"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def upgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.add_column(
            sa.Column("fence_token", sa.BigInteger(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.drop_column("fence_token")
