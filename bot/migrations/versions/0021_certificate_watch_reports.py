"""Certificate watchers (what each last heard of a certificate's status) and the certificate
numbers consumers' cases name (the CCC risk feedback)

Revision ID: 0021
Revises: 0020
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.db.base import UTCDateTime

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "certificate_watches",
        sa.Column("id", ID, nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("sender_id", sa.String(length=128), nullable=False),
        sa.Column("cert_no", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("told", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificate_watches")),
        sa.UniqueConstraint("channel", "sender_id", "cert_no", name="uq_certificate_watches"),
    )
    op.create_index("ix_certificate_watches_cert_no", "certificate_watches", ["cert_no"])
    op.create_table(
        "certificate_reports",
        sa.Column("id", ID, nullable=False),
        sa.Column("case_id", ID, nullable=False),
        sa.Column("cert_no", sa.String(length=16), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=True),
        sa.Column("link", sa.String(length=300), nullable=True),
        sa.Column("shop", sa.String(length=200), nullable=True),
        sa.Column("reported_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_certificate_reports_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificate_reports")),
        sa.UniqueConstraint("case_id", "cert_no", name="uq_certificate_reports"),
    )
    op.create_index("ix_certificate_reports_cert_no", "certificate_reports", ["cert_no"])
    op.create_index("ix_certificate_reports_reported_at", "certificate_reports", ["reported_at"])


def downgrade() -> None:
    op.drop_index("ix_certificate_reports_reported_at", table_name="certificate_reports")
    op.drop_index("ix_certificate_reports_cert_no", table_name="certificate_reports")
    op.drop_table("certificate_reports")
    op.drop_index("ix_certificate_watches_cert_no", table_name="certificate_watches")
    op.drop_table("certificate_watches")
