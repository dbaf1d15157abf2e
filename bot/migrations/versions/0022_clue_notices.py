"""Clue notices: reports about a business registered under another office, one per business

Revision ID: 0022
Revises: 0021
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.db.base import UTCDateTime

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "clue_notices",
        sa.Column("id", ID, nullable=False),
        sa.Column("office", sa.String(length=32), nullable=False),
        sa.Column("business_key", sa.String(length=240), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=True),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("region_label", sa.String(length=80), nullable=False),
        sa.Column("reports", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clue_notices")),
        sa.UniqueConstraint("office", "business_key", name="uq_clue_notices_business"),
    )
    op.create_index("ix_clue_notices_office_status", "clue_notices", ["office", "status"])


def downgrade() -> None:
    op.drop_index("ix_clue_notices_office_status", table_name="clue_notices")
    op.drop_table("clue_notices")
