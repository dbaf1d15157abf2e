"""Consent to be reached outside a conversation: on WeChat, the user's agreement to receive
alerts as subscription messages (订阅消息) once the 48-hour customer-service window closed.

Kept per channel and stored sender id (a keyed hash), given and withdrawn in chat
(``dialogues/subscriptions.py``); the WeChat outbox handler reads it before sending one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, UniqueConstraint, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot.db.base import Base, UTCDateTime
from bot.db.dialect import upsert_into
from bot.db.models import BigId

# The only kind so far: alerts as WeChat subscription messages.
ALERTS = "alerts"
# Channels whose users can be asked (those with a way to send outside a conversation).
ASKED_ON = frozenset({"wechat"})


class PushConsent(Base):
    """One sender's consent to one kind of message outside the conversation."""

    __tablename__ = "push_consents"
    __table_args__ = (UniqueConstraint("channel", "sender_id", "kind", name="uq_push_consents"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    sender_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime)


def given(session: Session, channel: str, sender_id: str, kind: str = ALERTS) -> bool:
    stmt = select(PushConsent.id).where(
        PushConsent.channel == channel,
        PushConsent.sender_id == sender_id,
        PushConsent.kind == kind,
    )
    return session.execute(stmt).first() is not None


def grant(
    session: Session, channel: str, sender_id: str, now: datetime, kind: str = ALERTS
) -> None:
    stmt = (
        upsert_into(session, PushConsent)
        .values(channel=channel, sender_id=sender_id, kind=kind, granted_at=now)
        .on_conflict_do_nothing(index_elements=["channel", "sender_id", "kind"])
    )
    session.execute(stmt)


def withdraw(session: Session, channel: str, sender_id: str, kind: str = ALERTS) -> None:
    session.execute(
        delete(PushConsent).where(
            PushConsent.channel == channel,
            PushConsent.sender_id == sender_id,
            PushConsent.kind == kind,
        )
    )
