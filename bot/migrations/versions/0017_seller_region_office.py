"""The seller as a business: credit listings, a case's respondent, region and office, and the
office a staff member works for

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.base

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "credit_entries",
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("list", sa.String(length=16), nullable=False),
        sa.Column("listed_on", sa.Date(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_key", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("authority", sa.String(length=200), nullable=False),
        sa.Column("removed_on", sa.Date(), nullable=True),
        sa.Column("is_sample", sa.Boolean(), nullable=False),
        sa.Column("updated_at", bot.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("uscc", "list", "listed_on", name=op.f("pk_credit_entries")),
    )
    op.create_index("ix_credit_entries_name_key", "credit_entries", ["name_key"])
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("respondent", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("respondent_uscc", sa.String(length=18), nullable=True))
        batch.add_column(sa.Column("region_code", sa.String(length=6), nullable=True))
        batch.add_column(sa.Column("office", sa.String(length=32), nullable=True))
    op.create_index("ix_cases_respondent_uscc", "cases", ["respondent_uscc"])
    op.create_index("ix_cases_region_code", "cases", ["region_code"])
    op.create_index("ix_cases_office", "cases", ["office"])
    with op.batch_alter_table("staff_users") as batch:
        batch.add_column(sa.Column("office", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff_users") as batch:
        batch.drop_column("office")
    op.drop_index("ix_cases_office", table_name="cases")
    op.drop_index("ix_cases_region_code", table_name="cases")
    op.drop_index("ix_cases_respondent_uscc", table_name="cases")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("office")
        batch.drop_column("region_code")
        batch.drop_column("respondent_uscc")
        batch.drop_column("respondent")
    op.drop_index("ix_credit_entries_name_key", table_name="credit_entries")
    op.drop_table("credit_entries")
