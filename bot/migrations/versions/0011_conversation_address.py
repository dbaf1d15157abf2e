"""Conversations: the encrypted platform id to send to (the sender id becomes its keyed hash)

Schema only: a migration has no key, so clear WeChat openids and Telegram user ids are
hashed, and their address encrypted, by ``weiquan keys rotate`` (docs/security.md).

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("address", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("address")
