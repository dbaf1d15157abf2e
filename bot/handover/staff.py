"""The staff side of the handover queue: claim, talk, transfer, release, close, time out.

Builds on the package's consumer side (``bot/handover/__init__.py``): ``HandoverRequest`` rows and the quiet mode
flag ``Conversation.handover``. ``HandoverRequest.updated_at`` doubles as "last staff action",
which is what the claim timeout measures.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import handover
from bot.db.engine import read_only
from bot.db.models import Case, Conversation, HandoverRequest, TranscriptEntry
from bot.staff.accounts import Staff, purge_expired
from bot.staff.models import StaffUser
from bot.staff.push import notice, push

# Old staff tokens and login attempts are purged this often.
PURGE_SECONDS = 3600.0

if TYPE_CHECKING:
    from bot.runtime import BackofficeRuntime

log = logging.getLogger(__name__)
ACTIVE = ("queued", "taken")


class QueueError(ValueError):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


@dataclass(frozen=True)
class Ticket:
    request: HandoverRequest
    conversation: Conversation


async def queue(session: AsyncSession, *, office: str | None = None) -> list[Ticket]:
    """Waiting and held conversations, most urgent first (priority, then waiting time).

    ``office`` narrows to conversations whose latest case that office handles, and those
    with no routed case yet (nobody's in particular, so everyone's); "none": only those."""
    stmt = (
        select(HandoverRequest, Conversation)
        .join(Conversation, Conversation.id == HandoverRequest.conversation_id)
        .where(HandoverRequest.status.in_(ACTIVE))
        .order_by(HandoverRequest.status, HandoverRequest.priority, HandoverRequest.requested_at)
    )
    if office:
        latest = (
            select(Case.office)
            .where(Case.conversation_id == Conversation.id)
            .order_by(Case.id.desc())
            .limit(1)
            .correlate(Conversation)
            .scalar_subquery()
        )
        mine = latest.is_(None)
        stmt = stmt.where(mine if office == "none" else mine | (latest == office))
    return [Ticket(r, c) for r, c in (await session.execute(stmt)).all()]


async def ticket(session: AsyncSession, request_id: int, *, lock: bool = False) -> Ticket:
    """The request and its conversation; ``lock`` holds the request row (``FOR UPDATE`` on
    PostgreSQL) so two staff acting at once are served one after the other."""
    request = await session.get(
        HandoverRequest, request_id, with_for_update=lock or None, populate_existing=lock
    )
    conversation = await session.get(Conversation, request.conversation_id) if request else None
    if request is None or conversation is None:
        raise QueueError(404, "request_not_found", f"No handover request {request_id}.")
    return Ticket(request, conversation)


def _held_by(t: Ticket, staff: Staff) -> None:
    if t.request.status != "taken":
        raise QueueError(409, "not_taken", "Claim the conversation first.")
    if t.request.taken_by != staff.username and staff.role != "supervisor":
        raise QueueError(403, "held_by_other", f"{t.request.taken_by} holds this conversation.")


async def _tell(session: AsyncSession, t: Ticket, key: str, now: datetime, suffix: str) -> None:
    c = t.conversation
    await session.run_sync(
        push,
        channel=c.channel,
        recipient_id=c.sender_id,
        text=notice(c.locale, key),
        source=f"handover.{t.request.id}.{suffix}.{int(now.timestamp() * 1000)}",
        now=now,
        conversation_id=c.id,
    )


async def claim(session: AsyncSession, request_id: int, staff: Staff, now: datetime) -> Ticket:
    t = await ticket(session, request_id, lock=True)
    if not await handover.take(session, request_id, staff=staff.username, now=now):
        raise QueueError(409, "not_queued", "Someone else took it, or it is no longer waiting.")
    await _tell(session, t, "staff_joined", now, "joined")
    return t


async def reply(
    session: AsyncSession, request_id: int, staff: Staff, text: str, now: datetime
) -> None:
    """A staff message goes out through the consumer's own channel via the outbox."""
    t = await ticket(session, request_id, lock=True)
    _held_by(t, staff)
    t.request.updated_at = now
    c = t.conversation
    await session.run_sync(
        push,
        channel=c.channel,
        recipient_id=c.sender_id,
        text=text,
        source=f"staff.{t.request.id}.{int(now.timestamp() * 1000)}.{len(text)}",
        now=now,
        author=staff.actor,
        conversation_id=c.id,
    )


async def transfer(
    session: AsyncSession, request_id: int, staff: Staff, to: str, now: datetime
) -> None:
    t = await ticket(session, request_id, lock=True)
    _held_by(t, staff)
    colleague = (
        await session.execute(
            select(StaffUser).where(StaffUser.username == to, StaffUser.active.is_(True))
        )
    ).scalar_one_or_none()
    if colleague is None or colleague.role not in {"agent", "supervisor"}:
        raise QueueError(422, "unknown_colleague", f"No agent or supervisor called {to!r}.")
    t.request.taken_by, t.request.updated_at = colleague.username, now
    t.conversation.handover = colleague.username[:16]


async def _hand_back(
    session: AsyncSession, t: Ticket, status: str, now: datetime, key: str
) -> None:
    t.request.status, t.request.updated_at = status, now
    if status == "queued":
        t.request.taken_by = None
    t.conversation.handover = None
    if status != "queued":
        t.conversation.state = {
            k: v for k, v in t.conversation.state.items() if k != "handover_request"
        }
    await _tell(session, t, key, now, status)


async def release(session: AsyncSession, request_id: int, staff: Staff, now: datetime) -> None:
    """Back to the bot without closing the matter (e.g. the consumer went quiet)."""
    t = await ticket(session, request_id, lock=True)
    _held_by(t, staff)
    await _hand_back(session, t, "released", now, "bot_back")


async def close(session: AsyncSession, request_id: int, staff: Staff, now: datetime) -> None:
    t = await ticket(session, request_id, lock=True)
    _held_by(t, staff)
    await _hand_back(session, t, "closed", now, "bot_back")


def entry_dict(e: TranscriptEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "direction": e.direction,
        "author": e.author,
        "text": e.text,
        "at": e.at.isoformat(),
    }


def _stale(now: datetime, idle: timedelta) -> Select[Any]:
    return select(HandoverRequest).where(
        HandoverRequest.status == "taken", HandoverRequest.updated_at < now - idle
    )


async def requeue_stale(session: AsyncSession, *, now: datetime, idle: timedelta) -> int:
    """Claimed conversations with no staff action for ``idle`` go back to the queue."""
    stale = list((await session.execute(_stale(now, idle))).scalars())
    done = 0
    for found in stale:
        t = await ticket(session, found.id, lock=True)
        # A staff action may have landed between the look and the lock.
        if t.request.status != "taken" or t.request.updated_at >= now - idle:
            continue
        log.info("handover %s timed out for %s", t.request.id, t.request.taken_by)
        await _hand_back(session, t, "queued", now, "requeued")
        done += 1
    return done


async def timeout_loop(runtime: BackofficeRuntime) -> None:
    """Requeue timed-out claims every ``claim_check_seconds``; purge old tokens hourly.

    Each pass looks in a read-only snapshot first: on SQLite a write transaction takes the
    database's only write lock, and most passes find nothing to do.
    """
    timeout = timedelta(minutes=runtime.settings.backoffice.claim_timeout_minutes)
    readers = read_only(runtime.sessions)
    next_purge = 0.0
    while True:
        try:
            now = runtime.now()
            async with readers() as session:
                stale = (await session.execute(_stale(now, timeout).limit(1))).first()
            if stale is not None:
                async with runtime.sessions() as session, session.begin():
                    if await requeue_stale(session, now=now, idle=timeout):
                        runtime.wake_outbox()
            if time.monotonic() >= next_purge:
                async with runtime.sessions() as session, session.begin():
                    tokens, attempts = await purge_expired(session, now=now)
                if tokens or attempts:
                    log.info("purged %s old staff tokens, %s old login attempts", tokens, attempts)
                next_purge = time.monotonic() + PURGE_SECONDS
        except Exception:
            log.exception("claim timeout pass failed")
        await asyncio.sleep(runtime.settings.backoffice.claim_check_seconds)
