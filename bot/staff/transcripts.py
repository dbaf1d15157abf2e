"""What staff may read of a conversation: only its holder (or a supervisor), only since the
hand-over request, with the consumer's personal answers masked; every read is audited."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.crypto import mask
from bot.db.models import Case, TranscriptEntry
from bot.handover.staff import QueueError, Ticket, entry_dict
from bot.staff import audit
from bot.staff.accounts import Staff
from dialogues.flows import all_flows

# Shorter values (one character) would mask half of every message.
MIN_MASKED = 2


@cache
def personal_slots() -> dict[str, frozenset[str]]:
    """Per flow, the slots its definition marks ``personal: true`` (name, phone, address, ID)."""
    return {
        name: frozenset(s.slot for s in flow.steps if s.personal)
        for name, flow in all_flows().items()
    }


def may_read(t: Ticket, staff: Staff) -> None:
    """Agents read the conversation they hold; supervisors any."""
    if staff.role == "supervisor":
        return
    if t.request.status != "taken" or t.request.taken_by != staff.username:
        raise QueueError(
            403, "not_your_conversation", "Only the person holding this conversation may read it."
        )


def asks_personal(entry: TranscriptEntry) -> bool:
    """A bot question whose answer is personal data (its reply names the awaited slot)."""
    custom = (entry.payload or {}).get("custom") or {}
    flow, slot = custom.get("flow"), custom.get("awaiting")
    return entry.author == "bot" and slot in personal_slots().get(str(flow), frozenset())


async def known_values(session: AsyncSession, t: Ticket) -> set[str]:
    """Personal values the conversation has given: the open form's and its cases'."""
    state = t.conversation.state or {}
    slots = state.get("slots") or {}
    personal = set().union(*personal_slots().values())
    values = {str(v) for k, v in slots.items() if k in personal and v}
    rows = await session.execute(
        select(Case.personal).where(Case.conversation_id == t.conversation.id)
    )
    for found in rows.scalars():
        values.update(str(v) for v in (found or {}).values() if isinstance(v, str | int) and v)
    return {v for v in values if len(v) >= MIN_MASKED}


def redact(text: str, values: set[str]) -> str:
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, mask(value))
    return text


async def read(
    session: AsyncSession,
    t: Ticket,
    staff: Staff,
    *,
    now: datetime,
    after: int = 0,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Entries after ``after`` since the request, oldest first, masked; the read is audited."""
    may_read(t, staff)
    conversation_id = t.conversation.id
    stmt = (
        select(TranscriptEntry)
        .where(
            TranscriptEntry.conversation_id == conversation_id,
            TranscriptEntry.at >= t.request.requested_at,
            TranscriptEntry.id > after,
        )
        .order_by(TranscriptEntry.id)
        .limit(limit + 1)
    )
    rows = list((await session.execute(stmt)).scalars())
    if rows:
        # The question a first answer replies to may lie before this page.
        before = (
            select(TranscriptEntry)
            .where(
                TranscriptEntry.conversation_id == conversation_id,
                TranscriptEntry.id < rows[0].id,
                TranscriptEntry.direction == "out",
            )
            .order_by(TranscriptEntry.id.desc())
            .limit(1)
        )
        previous = (await session.execute(before)).scalars().first()
    else:
        previous = None
    values = await known_values(session, t) if rows else set()
    shown = []
    asking = previous is not None and asks_personal(previous)
    for index, entry in enumerate(rows[:limit]):
        item = {**entry_dict(entry), "masked": False}
        if entry.direction == "in":
            # An answer the bot took as a form answer (it replied at once) is masked whole.
            following = rows[index + 1] if index + 1 < len(rows) else None
            answered = following is None or following.author == "bot"
            if asking and answered:
                item["text"], item["masked"] = mask(entry.text), True
            else:
                item["text"] = redact(entry.text, values)
        else:
            asking = asks_personal(entry)
            item["text"] = redact(entry.text, values)
        shown.append(item)
    if shown or after == 0:
        await audit.log(
            session,
            actor=staff.actor,
            action="transcript_read",
            conversation_id=conversation_id,
            reason=f"handover {t.request.id}",
            detail={"request": t.request.id, "after": after, "entries": len(shown)},
            now=now,
        )
    return shown
