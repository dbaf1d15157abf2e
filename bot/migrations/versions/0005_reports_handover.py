"""Reports (duplicate target keys, links, reward checklist), case claims, handover queue

Revision ID: 0005
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.base

revision: str = "0005"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("target_name_key", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("target_link_key", sa.String(length=300), nullable=True))
        batch.add_column(
            sa.Column(
                "duplicate_of_id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
            )
        )
        batch.add_column(sa.Column("linked_case_no", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("reward_checklist", sa.JSON(), nullable=True))
        batch.create_index(batch.f("ix_cases_target_name_key"), ["target_name_key"])
        batch.create_index(batch.f("ix_cases_target_link_key"), ["target_link_key"])
        batch.create_foreign_key(
            batch.f("fk_cases_duplicate_of_id_cases"), "cases", ["duplicate_of_id"], ["id"]
        )
    op.create_table(
        "case_claims",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_no", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("sender_id", sa.String(length=128), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("at", bot.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_claims")),
    )
    op.create_index("ix_case_claims_who", "case_claims", ["case_no", "channel", "sender_id"])
    op.create_table(
        "handover_requests",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "conversation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("taken_by", sa.String(length=64), nullable=True),
        sa.Column("requested_at", bot.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", bot.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_handover_requests_conversation_id_conversations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handover_requests")),
    )
    op.create_index(
        op.f("ix_handover_requests_conversation_id"), "handover_requests", ["conversation_id"]
    )
    op.create_index(
        "ix_handover_queue", "handover_requests", ["status", "priority", "requested_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_handover_queue", table_name="handover_requests")
    op.drop_index(op.f("ix_handover_requests_conversation_id"), table_name="handover_requests")
    op.drop_table("handover_requests")
    op.drop_index("ix_case_claims_who", table_name="case_claims")
    op.drop_table("case_claims")
    with op.batch_alter_table("cases") as batch:
        batch.drop_constraint(batch.f("fk_cases_duplicate_of_id_cases"), type_="foreignkey")
        batch.drop_index(batch.f("ix_cases_target_link_key"))
        batch.drop_index(batch.f("ix_cases_target_name_key"))
        batch.drop_column("reward_checklist")
        batch.drop_column("linked_case_no")
        batch.drop_column("duplicate_of_id")
        batch.drop_column("target_link_key")
        batch.drop_column("target_name_key")
