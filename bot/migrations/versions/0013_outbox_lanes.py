"""Outbox: a delivery lane per recipient, so one user's messages leave in order

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("lane", sa.String(length=160), nullable=True))
    op.create_index("ix_outbox_lane", "outbox", ["lane", "id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_lane", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("lane")
