"""Account lifecycle and audit: when each staff token was last used; audit rows name the case,
the conversation and the client address, and are indexed by person and by case

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.base

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("staff_tokens") as batch:
        batch.add_column(
            sa.Column("last_used_at", bot.db.base.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column("actor", existing_type=sa.String(length=32), type_=sa.String(length=64))
        batch.add_column(sa.Column("case_no", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("conversation_id", BigId, nullable=True))
        batch.add_column(sa.Column("ip", sa.String(length=64), nullable=False, server_default=""))
    # Rows written before these columns named their case only as the target.
    op.execute("UPDATE audit_log SET case_no = target WHERE target LIKE 'TS%' OR target LIKE 'JB%'")
    op.create_index("ix_audit_actor", "audit_log", ["actor", "id"])
    op.create_index("ix_audit_case_no", "audit_log", ["case_no", "id"])


def downgrade() -> None:
    op.drop_index("ix_audit_case_no", table_name="audit_log")
    op.drop_index("ix_audit_actor", table_name="audit_log")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("ip")
        batch.drop_column("conversation_id")
        batch.drop_column("case_no")
        batch.alter_column("actor", existing_type=sa.String(length=64), type_=sa.String(length=32))
    with op.batch_alter_table("staff_tokens") as batch:
        batch.drop_column("last_used_at")
