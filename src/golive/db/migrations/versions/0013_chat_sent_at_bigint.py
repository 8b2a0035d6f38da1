"""chat_messages.sent_at_ms: 64-bit (epoch milliseconds overflow a 32-bit integer)

PostgreSQL's INTEGER is 32 bits, and every millisecond timestamp since 1970-01-25 is larger.
SQLite's INTEGER already holds 64 bits, so a SQLite database is left as it is (no copy of a
possibly large table for a name change of the type); the model declares the same variant.

Revision ID: 0013
Revises: 0012
Created: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | tuple[str, ...] | None = "0012"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def _is_sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    if _is_sqlite():
        return
    op.alter_column(
        "chat_messages",
        "sent_at_ms",
        existing_type=sa.Integer(),
        type_=sa.BigInteger(),
        existing_nullable=False,
    )


def downgrade() -> None:
    # Fails on PostgreSQL once a message is stored (its timestamp does not fit), as it should:
    # the earlier schema cannot hold the data.
    if _is_sqlite():
        return
    op.alter_column(
        "chat_messages",
        "sent_at_ms",
        existing_type=sa.BigInteger(),
        type_=sa.Integer(),
        existing_nullable=False,
    )
