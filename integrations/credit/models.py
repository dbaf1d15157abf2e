"""The embedded credit registry's table: one row per listing of a business on a list."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, UTCDateTime, utcnow


class CreditEntry(Base):
    """A listing as imported. The key is the business, the list and the day it was listed, so
    a later export of the same listing (now with a removal date) updates it, and a second
    listing on another day is a row of its own; ``is_sample`` rows are invented and say so."""

    __tablename__ = "credit_entries"

    uscc: Mapped[str] = mapped_column(String(18), primary_key=True)
    list: Mapped[str] = mapped_column(String(16), primary_key=True)  # CreditList value
    listed_on: Mapped[date] = mapped_column(Date, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    # The name folded (width, case, punctuation) for look-ups by name.
    name_key: Mapped[str] = mapped_column(String(200), default="", index=True)
    reason: Mapped[str] = mapped_column(String(500), default="")
    authority: Mapped[str] = mapped_column(String(200), default="")
    removed_on: Mapped[date | None] = mapped_column(Date)
    is_sample: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
