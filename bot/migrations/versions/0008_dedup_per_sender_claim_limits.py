"""Repeats are recognised per sender; case claims count failures per case and per address

Revision ID: 0008
Revises: 0007

A message id was unique per channel, so a second sender reusing another's id was answered
with the first sender's replies. The key now includes the conversation (one per channel and
sender). Case claims gain a keyed hash of the client address and the flag of the failure
that locked a case, with indexes for the windowed counts.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KEY = "uq_inbound_messages_channel_channel_message_id"
NEW_KEY = "uq_inbound_messages_conversation_message"


def upgrade() -> None:
    with op.batch_alter_table("inbound_messages") as batch:
        batch.drop_constraint(OLD_KEY, type_="unique")
        batch.create_unique_constraint(
            NEW_KEY, ["channel", "conversation_id", "channel_message_id"]
        )
    with op.batch_alter_table("case_claims") as batch:
        batch.add_column(sa.Column("address_hash", sa.String(length=64), nullable=True))
        batch.add_column(
            sa.Column("locked", sa.Boolean(), nullable=False, server_default=sa.text("false"))
        )
    op.create_index("ix_case_claims_case_at", "case_claims", ["case_no", "at"])
    op.create_index("ix_case_claims_address_at", "case_claims", ["address_hash", "at"])


def downgrade() -> None:
    """Back to one key per channel message; fails if two senders used one id meanwhile."""
    op.drop_index("ix_case_claims_address_at", table_name="case_claims")
    op.drop_index("ix_case_claims_case_at", table_name="case_claims")
    with op.batch_alter_table("case_claims") as batch:
        batch.drop_column("locked")
        batch.drop_column("address_hash")
    with op.batch_alter_table("inbound_messages") as batch:
        batch.drop_constraint(NEW_KEY, type_="unique")
        batch.create_unique_constraint(OLD_KEY, ["channel", "channel_message_id"])
