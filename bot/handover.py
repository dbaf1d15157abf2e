"""The staff queue seen from the conversation: request, estimate, cancel.

Staff take requests elsewhere (the back-office issue); ``take`` and ``release`` here are the
two state changes that switch the bot's quiet mode (``Conversation.handover``) on and off.

A safety word jumps the queue when it comes from a conversation with a history, or while few
new conversations have used it lately; beyond that budget a new sender's safety request still
queues, flagged "safety", after the genuine ones, so a flood of new senders typing a safety
word cannot bury them (docs/console.md, "Handover queue").
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Conversation, HandoverRequest
from dialogues.ports import HandoverTicket

RULES = Path(__file__).parent / "rules" / "handover.yml"


@cache
def rules() -> dict[str, Any]:
    return dict(yaml.safe_load(RULES.read_text(encoding="utf-8")))


def estimate(ahead: int) -> int:
    """Rough minutes to wait with ``ahead`` requests in front, within the configured bounds."""
    r = rules()
    minutes = (ahead + 1) * int(r["minutes_per_request_ahead"])
    return max(int(r["minimum_minutes"]), min(int(r["maximum_minutes"]), minutes))


class SessionHandoverDesk:
    """Implements ``dialogues.ports.HandoverDesk`` inside the message's transaction."""

    def __init__(self, session: AsyncSession, *, conversation_id: int, now: datetime) -> None:
        self.session = session
        self.conversation_id = conversation_id
        self.now = now

    async def _open(self) -> HandoverRequest | None:
        stmt = select(HandoverRequest).where(
            HandoverRequest.conversation_id == self.conversation_id,
            HandoverRequest.status == "queued",
        )
        return (await self.session.execute(stmt)).scalars().first()

    async def _ahead(self, request: HandoverRequest) -> int:
        stmt = select(func.count()).where(
            HandoverRequest.status == "queued",
            HandoverRequest.id != request.id,
            (HandoverRequest.priority < request.priority)
            | ((HandoverRequest.priority == request.priority) & (HandoverRequest.id < request.id)),
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def _established(self) -> bool:
        """The conversation had earlier messages over some minutes: not a one-line newcomer."""
        r = rules()["safety"]
        stmt = select(Conversation.message_count, Conversation.created_at).where(
            Conversation.id == self.conversation_id
        )
        row = (await self.session.execute(stmt)).first()
        return (
            row is not None
            and row.message_count >= int(r["established_messages"])
            and row.created_at <= self.now - timedelta(minutes=r["established_minutes"])
        )

    async def _budget_left(self) -> bool:
        """Fewer top-priority safety requests than the budget were queued in the window."""
        r = rules()["safety"]
        stmt = select(func.count()).where(
            HandoverRequest.reason == "safety",
            HandoverRequest.priority == int(rules()["priority"]["safety"]),
            HandoverRequest.requested_at > self.now - timedelta(minutes=r["window_minutes"]),
        )
        return int((await self.session.execute(stmt)).scalar_one()) < int(r["new_budget"])

    async def _priority(self, reason: str) -> int:
        priority = int(rules()["priority"].get(reason, 9))
        if reason != "safety" or await self._established() or await self._budget_left():
            return priority
        return int(rules()["safety"]["over_budget_priority"])

    async def request(self, *, reason: str, detail: str = "") -> HandoverTicket:
        existing = await self._open()
        priority = await self._priority(reason)
        if existing is not None:
            if priority < existing.priority:  # e.g. a safety mention moves a waiting request up
                existing.priority = priority
                if existing.reason != "safety":  # the safety flag stays visible to staff
                    existing.reason = reason
                existing.updated_at = self.now
                await self.session.flush()
            ahead = await self._ahead(existing)
            return HandoverTicket(existing.id, ahead + 1, estimate(ahead), already_queued=True)
        request = HandoverRequest(
            conversation_id=self.conversation_id,
            reason=reason,
            detail=detail,
            priority=priority,
            status="queued",
            requested_at=self.now,
            updated_at=self.now,
        )
        self.session.add(request)
        await self.session.flush()
        ahead = await self._ahead(request)
        return HandoverTicket(request.id, ahead + 1, estimate(ahead))

    async def cancel(self) -> bool:
        request = await self._open()
        if request is None:
            return False
        request.status, request.updated_at = "cancelled", self.now
        return True


async def take(session: AsyncSession, request_id: int, *, staff: str, now: datetime) -> bool:
    """A staff member takes a queued request: the bot goes quiet in that conversation.

    The request row is locked (``FOR UPDATE`` on PostgreSQL; SQLite serialises writers) and
    read afresh, so of two staff claiming at once the second sees it taken."""
    request = await session.get(
        HandoverRequest, request_id, with_for_update=True, populate_existing=True
    )
    if request is None or request.status != "queued":
        return False
    conversation = await session.get(Conversation, request.conversation_id)
    if conversation is None:
        return False
    request.status, request.taken_by, request.updated_at = "taken", staff, now
    conversation.handover = staff[:16]
    return True


async def release(session: AsyncSession, request_id: int, *, now: datetime) -> None:
    """The staff member hands the conversation back to the bot."""
    request = await session.get(HandoverRequest, request_id)
    if request is None:
        return
    conversation = await session.get(Conversation, request.conversation_id)
    request.status, request.updated_at = "closed", now
    if conversation is not None:
        conversation.handover = None
        conversation.state = {
            k: v for k, v in conversation.state.items() if k != "handover_request"
        }
