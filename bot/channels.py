"""What channel adapters may ask of storage, so that none of them touches the app's tables.

An adapter turns a platform message into an ``InboundMessage``, calls the pipeline and renders
its result. The few things it needs besides (the buttons of the user's last answer, follow-up
messages queued once, where to send a delivery, which language a user reads) are here, run
through the same ``ConversationStore`` as the turns.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from bot import consents
from bot.conversations import ConversationStore
from bot.db.models import Case, CaseEvent, Conversation, InboundMessage, OutboxMessage
from bot.outbox import Key, enqueue
from bot.senders import SenderIds, UnknownAddress, is_hashed
from dialogues.model import Reply

_outbox = cast(Table, OutboxMessage.__table__)


def address_of(session: Session, senders: SenderIds, channel: str, sender_id: str) -> str:
    """The platform id to send to for a stored sender id.

    A clear sender id (REST, or a row not yet converted by ``weiquan keys rotate``) is its
    own address. A hashed one is opened from ``conversations.address`` and checked against the
    hash, so an address copied from another conversation is refused rather than used.
    """
    if not is_hashed(sender_id):
        return sender_id
    address = session.execute(
        select(Conversation.address).where(
            Conversation.channel == channel, Conversation.sender_id == sender_id
        )
    ).scalar_one_or_none()
    if not address or not hmac.compare_digest(senders.sender_id(channel, address), sender_id):
        raise UnknownAddress(f"{channel}: no address for {sender_id}")
    return str(address)


def _last_replies(session: Session, channel: str, senders: list[str]) -> list[dict[str, Any]]:
    stmt = (
        select(InboundMessage.replies)
        .join(Conversation, Conversation.id == InboundMessage.conversation_id)
        .where(Conversation.channel == channel, Conversation.sender_id.in_(senders))
        .order_by(InboundMessage.id.desc())
        .limit(1)
    )
    return list(session.execute(stmt).scalar_one_or_none() or [])


def _queue_once(
    session: Session,
    topic: str,
    items: list[tuple[Key, dict[str, Any]]],
    due: datetime,
    now: datetime,
    lane: str | None,
) -> int:
    return sum(
        enqueue(
            session,
            topic=topic,
            key=key,
            payload=payload,
            due=due,
            once=True,
            created=now,
            lane=lane,
        )
        for key, payload in items
    )


def _language(session: Session, channel: str, sender_id: str) -> str | None:
    row = session.execute(
        select(Conversation.state, Conversation.locale).where(
            Conversation.channel == channel, Conversation.sender_id == sender_id
        )
    ).one_or_none()
    if row is None:
        return None
    state, locale = row
    return str((state or {}).get("lang") or locale or "") or None


def _progress(session: Session, delivery_id: int, values: dict[str, Any]) -> None:
    row = session.get(OutboxMessage, delivery_id)
    if row is not None:
        row.payload = {**row.payload, **values}


def _record_unreachable(
    session: Session,
    channel: str,
    senders: list[str],
    case_no: str | None,
    detail: dict[str, Any],
    at: datetime,
) -> bool:
    stmt = select(Case)
    if case_no:
        stmt = stmt.where(Case.case_no == case_no)
    else:
        stmt = stmt.where(Case.channel == channel, Case.sender_id.in_(senders))
        stmt = stmt.order_by(Case.id.desc())
    case = session.execute(stmt.limit(1)).scalar_one_or_none()
    if case is None:
        return False
    session.execute(
        insert(CaseEvent).values(
            case_id=case.id, kind="channel_unreachable", detail=detail, actor=channel, at=at
        )
    )
    return True


class ChannelStore:
    """The storage port of channel adapters and outbox handlers."""

    def __init__(self, store: ConversationStore, senders: SenderIds) -> None:
        self.store = store
        # How this app stores a platform id (a keyed hash on WeChat and Telegram).
        self.senders = senders

    async def last_replies(self, channel: str, senders: list[str]) -> list[Reply]:
        """The replies to this user's latest message: the buttons they may answer with."""
        stored = await self.store.read(lambda s: _last_replies(s, channel, senders))
        return [Reply.from_dict(r) for r in stored]

    async def queue_once(
        self,
        *,
        topic: str,
        items: list[tuple[Key, dict[str, Any]]],
        due: datetime,
        now: datetime | None = None,
        lane: str | None = None,
    ) -> int:
        """Outbox rows by key, sent from ``due`` in order within their ``lane`` (the user's:
        ``bot.outbox.lane_of``); a key already queued (a repeated delivery) is skipped.
        Returns how many were new."""
        if not items:
            return 0
        created = now or due
        return await self.store.write(lambda s: _queue_once(s, topic, items, due, created, lane))

    async def is_queued(self, topic: str, key: Key) -> bool:
        stmt = select(OutboxMessage.id).where(OutboxMessage.key == key.spell(topic))
        return await self.store.read(lambda s: s.execute(stmt).first() is not None)

    async def address(self, channel: str, sender_id: str) -> str:
        """Where to send (``UnknownAddress`` when there is nowhere)."""
        return await self.store.read(lambda s: address_of(s, self.senders, channel, sender_id))

    async def language(self, channel: str, sender_id: str) -> str | None:
        """The conversation's language (the user may have switched with "english")."""
        return await self.store.read(lambda s: _language(s, channel, sender_id))

    async def consented(self, channel: str, sender_id: str) -> bool:
        """Whether the user agreed to alerts outside the conversation (``bot/consents.py``)."""
        return await self.store.read(lambda s: consents.given(s, channel, sender_id))

    async def note_progress(self, delivery_id: int, **values: Any) -> None:
        """Remember, on the delivery, how far it got (parts of a split reply already sent)."""
        await self.store.write(lambda s: _progress(s, delivery_id, values))

    async def record_unreachable(
        self,
        channel: str,
        senders: list[str],
        *,
        case_no: str | None,
        detail: dict[str, Any],
        at: datetime,
    ) -> bool:
        """A ``channel_unreachable`` event on the case a message was about (or the user's
        latest case); False when there is no case to put it on."""
        return await self.store.write(
            lambda s: _record_unreachable(s, channel, senders, case_no, detail, at)
        )
