"""Assistance requests (协查) between offices: a request on a case, and its message thread

Revision ID: 0020
Revises: 0019
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.db.base import UTCDateTime

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "assist_requests",
        sa.Column("id", ID, nullable=False),
        sa.Column("case_id", ID, nullable=False),
        sa.Column("case_no", sa.String(length=16), nullable=False),
        sa.Column("from_office", sa.String(length=32), nullable=True),
        sa.Column("to_office", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("due", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.Column("closed_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_assist_requests_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assist_requests")),
    )
    op.create_index("ix_assist_requests_case_id", "assist_requests", ["case_id"])
    op.create_index("ix_assist_requests_to_status", "assist_requests", ["to_office", "status"])
    op.create_table(
        "assist_messages",
        sa.Column("id", ID, nullable=False),
        sa.Column("request_id", ID, nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("office", sa.String(length=32), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["assist_requests.id"],
            name=op.f("fk_assist_messages_request_id_assist_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assist_messages")),
    )
    op.create_index("ix_assist_messages_request_id", "assist_messages", ["request_id"])


def downgrade() -> None:
    op.drop_index("ix_assist_messages_request_id", table_name="assist_messages")
    op.drop_table("assist_messages")
    op.drop_index("ix_assist_requests_to_status", table_name="assist_requests")
    op.drop_index("ix_assist_requests_case_id", table_name="assist_requests")
    op.drop_table("assist_requests")
