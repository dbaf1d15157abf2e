"""Typical cases: anonymised case summaries staff publish for consumers to read in chat

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.db.base import UTCDateTime

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "typical_cases",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("title_zh", sa.String(length=60), nullable=False),
        sa.Column("title_en", sa.String(length=160), nullable=False),
        sa.Column("summary_zh", sa.Text(), nullable=False),
        sa.Column("summary_en", sa.Text(), nullable=False),
        sa.Column("published_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.String(length=32), nullable=False),
        sa.Column("withdrawn_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_by", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_typical_cases")),
    )
    op.create_index("ix_typical_cases_published_at", "typical_cases", ["published_at"])
    op.create_index(
        "ix_typical_cases_category_published", "typical_cases", ["category", "published_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_typical_cases_category_published", table_name="typical_cases")
    op.drop_index("ix_typical_cases_published_at", table_name="typical_cases")
    op.drop_table("typical_cases")
