"""CCC registry: room for a certificate's whole model range (dozens of models on one certificate)

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ccc_certificates") as batch:
        batch.alter_column(
            "model", existing_type=sa.String(length=200), type_=sa.String(length=2000)
        )


def downgrade() -> None:
    with op.batch_alter_table("ccc_certificates") as batch:
        batch.alter_column(
            "model", existing_type=sa.String(length=2000), type_=sa.String(length=200)
        )
