"""The embedded registry's table: one row per certificate, keyed by its number."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, UTCDateTime, utcnow


class CccCertificate(Base):
    """A certificate as imported; ``is_sample`` rows are invented data and say so in answers."""

    __tablename__ = "ccc_certificates"

    cert_no: Mapped[str] = mapped_column(String(16), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200), default="")
    manufacturer: Mapped[str] = mapped_column(String(200), default="")
    product: Mapped[str] = mapped_column(String(200), default="")
    # the certificate's model range: every model it covers, as listed on it
    model: Mapped[str] = mapped_column(String(2000), default="")
    category_code: Mapped[str | None] = mapped_column(String(4))
    status: Mapped[str] = mapped_column(String(16))  # CertStatus value (English)
    issued_on: Mapped[date | None] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date)
    is_sample: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
