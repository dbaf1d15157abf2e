"""Cases keep their free-text slots (problem, facts, seen) in an encrypted ``narrative`` column

Only the column is added here: a migration has no key, so existing text is moved into the
column, and every older ciphertext re-encrypted, by ``weiquan keys rotate``.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("narrative", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("narrative")
