"""Handing a conversation to a person. This package holds all of it on the service's side:
here the queue as the conversation sees it (request, estimate, cancel: the appliers of the
engine's ``RequestHandover`` and ``CancelHandover`` actions) and the two state changes that
switch the bot's quiet mode (``Conversation.handover``) on and off, ``take`` and ``release``;
``bot.handover.staff`` is the staff side (claim, talk, transfer, release, close, time out).
What the user is told lives with the dialogues, in ``dialogues/handover.py``.

A safety word jumps the queue when it comes from a conversation with a history, or while few
new conversations have used it lately; beyond that budget a new sender's safety request still
queues, flagged "safety", after the genuine ones, so a flood of new senders typing a safety
word cannot bury them (docs/console.md, "Handover queue").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bot.cases import Filer
from bot.db.models import Conversation, HandoverRequest
from bot.deadlines import SHANGHAI, is_workday
from dialogues.actions import RequestHandover
from dialogues.ports import HandoverTicket
from nlu.datafile import read_yaml

RULES = Path(__file__).parent.parent / "rules" / "handover.yml"


@cache
def rules() -> dict[str, Any]:
    return dict(read_yaml(RULES))


@dataclass(frozen=True)
class StaffHours:
    """When staff answer the queue, Asia/Shanghai time: every day or PRC working days only.

    A deployment fact (``WEIQUAN_STAFF_HOURS``, ``WEIQUAN_STAFF_DAYS``); the defaults in
    bot/rules/handover.yml are UNCONFIRMED. A close of 24:00 means until midnight."""

    open: time
    close: time
    days: Literal["all", "working"] = "all"

    @classmethod
    def parse(cls, span: str, days: str = "all") -> StaffHours:
        """``"09:00-21:00"``; raises ValueError naming the expected shape."""
        start, sep, end = span.replace("–", "-").partition("-")
        shape = f"staff hours {span!r} on {days!r} days: expected HH:MM-HH:MM and all|working"
        if not sep or days not in ("all", "working"):
            raise ValueError(shape)
        try:
            opens = time.fromisoformat(start.strip())
            closes = time.max if end.strip() == "24:00" else time.fromisoformat(end.strip())
        except ValueError:
            raise ValueError(shape) from None
        if closes <= opens:
            raise ValueError(f"staff hours {span!r}: closing must come after opening")
        return cls(opens, closes, "working" if days == "working" else "all")

    @classmethod
    def default(cls) -> StaffHours:
        hours = rules()["staff_hours"]
        return cls.parse(f"{hours['open']}-{hours['close']}", hours["days"])

    @property
    def label(self) -> dict[str, str]:
        """What the user is told, e.g. 每天 9:00–21:00 / 9:00–21:00 every day."""
        span = f"{self.open:%-H:%M}–{'24:00' if self.close == time.max else f'{self.close:%-H:%M}'}"
        if self.days == "working":
            return {"zh": f"工作日 {span}", "en": f"{span} on working days"}
        return {"zh": f"每天 {span}", "en": f"{span} every day"}

    def _staffed_day(self, day: date) -> bool:
        return self.days == "all" or is_workday(day)[0]

    def opens_at(self, now: datetime) -> datetime | None:
        """None while staff work; otherwise when they next start (Asia/Shanghai)."""
        local = now.astimezone(SHANGHAI)
        if self._staffed_day(local.date()) and self.open <= local.time() < self.close:
            return None
        day = local.date() if local.time() < self.open else local.date() + timedelta(days=1)
        for _ in range(60):  # the longest holiday is well under two months
            if self._staffed_day(day):
                break
            day += timedelta(days=1)
        return datetime.combine(day, self.open, tzinfo=SHANGHAI)


def ticket(
    request_id: int,
    ahead: int,
    now: datetime,
    *,
    hours: StaffHours,
    already_queued: bool = False,
) -> HandoverTicket:
    """The user's place in the queue and the wait: minutes while staff work, else their hours."""
    return HandoverTicket(
        request_id,
        ahead + 1,
        estimate(ahead),
        already_queued=already_queued,
        opens_at=hours.opens_at(now),
        staff_hours=hours.label,
    )


def estimate(ahead: int) -> int:
    """Rough minutes to wait with ``ahead`` requests in front, within the configured bounds."""
    r = rules()
    minutes = (ahead + 1) * int(r["minutes_per_request_ahead"])
    return max(int(r["minimum_minutes"]), min(int(r["maximum_minutes"]), minutes))


def _open(session: Session, conversation_id: int) -> HandoverRequest | None:
    stmt = select(HandoverRequest).where(
        HandoverRequest.conversation_id == conversation_id,
        HandoverRequest.status == "queued",
    )
    return session.execute(stmt).scalars().first()


def _ahead(session: Session, request: HandoverRequest) -> int:
    stmt = select(func.count()).where(
        HandoverRequest.status == "queued",
        HandoverRequest.id != request.id,
        (HandoverRequest.priority < request.priority)
        | ((HandoverRequest.priority == request.priority) & (HandoverRequest.id < request.id)),
    )
    return int(session.execute(stmt).scalar_one())


def _established(session: Session, conversation_id: int, now: datetime) -> bool:
    """The conversation had earlier messages over some minutes: not a one-line newcomer."""
    r = rules()["safety"]
    stmt = select(Conversation.message_count, Conversation.created_at).where(
        Conversation.id == conversation_id
    )
    row = session.execute(stmt).first()
    return (
        row is not None
        and row.message_count >= int(r["established_messages"])
        and row.created_at <= now - timedelta(minutes=r["established_minutes"])
    )


def _budget_left(session: Session, now: datetime) -> bool:
    """Fewer top-priority safety requests than the budget were queued in the window."""
    r = rules()["safety"]
    stmt = select(func.count()).where(
        HandoverRequest.reason == "safety",
        HandoverRequest.priority == int(rules()["priority"]["safety"]),
        HandoverRequest.requested_at > now - timedelta(minutes=r["window_minutes"]),
    )
    return int(session.execute(stmt).scalar_one()) < int(r["new_budget"])


def _priority(session: Session, reason: str, conversation_id: int, now: datetime) -> int:
    priority = int(rules()["priority"].get(reason, 9))
    if (
        reason != "safety"
        or _established(session, conversation_id, now)
        or _budget_left(session, now)
    ):
        return priority
    return int(rules()["safety"]["over_budget_priority"])


def request(
    session: Session, filer: Filer, action: RequestHandover, hours: StaffHours
) -> HandoverTicket:
    """Queue the conversation (or move its waiting request up) in the turn's transaction."""
    conversation_id, now = filer.conversation_id, filer.now
    existing = _open(session, conversation_id)
    priority = _priority(session, action.reason, conversation_id, now)
    if existing is not None:
        if priority < existing.priority:  # e.g. a safety mention moves a waiting request up
            existing.priority = priority
            if existing.reason != "safety":  # the safety flag stays visible to staff
                existing.reason = action.reason
            existing.updated_at = now
            session.flush()
        ahead = _ahead(session, existing)
        return ticket(existing.id, ahead, now, hours=hours, already_queued=True)
    queued = HandoverRequest(
        conversation_id=conversation_id,
        reason=action.reason,
        detail=action.detail,
        priority=priority,
        status="queued",
        requested_at=now,
        updated_at=now,
    )
    session.add(queued)
    session.flush()
    ahead = _ahead(session, queued)
    return ticket(queued.id, ahead, now, hours=hours)


def cancel(session: Session, filer: Filer) -> bool:
    """Withdraw the conversation's queued request; False if none was queued."""
    queued = _open(session, filer.conversation_id)
    if queued is None:
        return False
    queued.status, queued.updated_at = "cancelled", filer.now
    session.flush()
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
