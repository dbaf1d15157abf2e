"""The handover queue over the API, and the REST channel's pull of staff and case messages."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from bot.api.deps import AfterId, CaseStaff, RowId, Runtime, Session
from bot.db.models import Conversation, TranscriptEntry
from bot.handover import staff as desk
from bot.staff import transcripts, views
from bot.staff.push import public_author
from bot.web.errors import ApiError

router = APIRouter(tags=["handover queue"])


class ReplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=4000)


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{1,25}$")


def ticket_dict(t: desk.Ticket, now: Any) -> dict[str, Any]:
    r, c = t.request, t.conversation
    return {
        "id": r.id,
        "status": r.status,
        "reason": r.reason,
        "detail": r.detail,
        "priority": r.priority,
        "taken_by": r.taken_by,
        "channel": c.channel,
        "locale": c.locale,
        "requested_at": r.requested_at.isoformat(),
        "waiting_minutes": int((now - r.requested_at).total_seconds() // 60),
    }


async def _run(work: Any) -> None:
    try:
        await work
    except desk.QueueError as exc:
        raise ApiError(exc.status, exc.code, str(exc)) from None


@router.get("/api/v1/queue")
async def list_queue(
    staff: CaseStaff,
    runtime: Runtime,
    session: Session,
    office: Annotated[str | None, Query(pattern=r"^(?:none|[a-z0-9][a-z0-9._-]{0,31})$")] = None,
) -> list[dict[str, Any]]:
    """An office's agent gets their office's conversations (and unrouted ones) whatever
    ``office`` says; supervisors every office's, or the one asked for."""
    now = runtime.now()
    scope = views.office_for(staff, office)
    return [ticket_dict(t, now) for t in await desk.queue(session, office=scope)]


@router.post("/api/v1/queue/{request_id}/claim")
async def claim(
    request_id: RowId, staff: CaseStaff, runtime: Runtime, session: Session
) -> dict[str, Any]:
    try:
        t = await desk.claim(session, request_id, staff, runtime.now())
    except desk.QueueError as exc:
        raise ApiError(exc.status, exc.code, str(exc)) from None
    runtime.wake_outbox()
    return ticket_dict(t, runtime.now())


@router.get("/api/v1/queue/{request_id}/messages")
async def messages(
    request_id: RowId,
    staff: CaseStaff,
    runtime: Runtime,
    session: Session,
    after: AfterId = 0,
) -> list[dict[str, Any]]:
    """Poll with ``after`` = the last id seen: the consumer's new messages without reloading.

    Only the holder (or a supervisor) reads, only since the request, personal answers masked."""
    try:
        t = await desk.ticket(session, request_id)
        return await transcripts.read(session, t, staff, now=runtime.now(), after=after)
    except desk.QueueError as exc:
        raise ApiError(exc.status, exc.code, str(exc)) from None


@router.post("/api/v1/queue/{request_id}/reply", status_code=202)
async def reply(
    request_id: RowId, body: ReplyIn, staff: CaseStaff, runtime: Runtime, session: Session
) -> dict[str, str]:
    await _run(desk.reply(session, request_id, staff, body.text, runtime.now()))
    runtime.wake_outbox()
    return {"status": "queued"}


@router.post("/api/v1/queue/{request_id}/transfer")
async def transfer(
    request_id: RowId, body: TransferIn, staff: CaseStaff, runtime: Runtime, session: Session
) -> dict[str, str]:
    await _run(desk.transfer(session, request_id, staff, body.to, runtime.now()))
    return {"status": "transferred", "to": body.to}


@router.post("/api/v1/queue/{request_id}/release")
async def release(
    request_id: RowId, staff: CaseStaff, runtime: Runtime, session: Session
) -> dict[str, str]:
    await _run(desk.release(session, request_id, staff, runtime.now()))
    runtime.wake_outbox()
    return {"status": "released"}


@router.post("/api/v1/queue/{request_id}/close")
async def close(
    request_id: RowId, staff: CaseStaff, runtime: Runtime, session: Session
) -> dict[str, str]:
    await _run(desk.close(session, request_id, staff, runtime.now()))
    runtime.wake_outbox()
    return {"status": "closed"}


@router.get("/webhooks/rest/pushes", tags=["rest channel"])
async def rest_pushes(
    session: Session,
    sender: Annotated[str, Query(min_length=1, max_length=128)],
    after: AfterId = 0,
) -> list[dict[str, Any]]:
    """Messages for a web user that no reply carried (staff, case notices): fetched on a visit.

    The REST channel trusts ``sender`` as the user's identity, as its webhook does.
    """
    found = (
        await session.execute(
            select(Conversation.id, Conversation.locale).where(
                Conversation.channel == "rest", Conversation.sender_id == sender
            )
        )
    ).first()
    if found is None:
        return []
    conversation_id, locale = found
    stmt = (
        select(TranscriptEntry)
        .where(
            TranscriptEntry.conversation_id == conversation_id,
            TranscriptEntry.direction == "out",
            TranscriptEntry.author != "bot",
            TranscriptEntry.id > after,
        )
        .order_by(TranscriptEntry.id)
        .limit(100)
    )
    return [_pushed(e, sender, locale) for e in (await session.execute(stmt)).scalars()]


def _pushed(entry: TranscriptEntry, sender: str, locale: str | None) -> dict[str, Any]:
    """A bot's own later answer (a photo's reading) keeps its buttons; others name a role."""
    if entry.author.startswith("bot:"):
        payload = entry.payload or {}
        return {
            "id": entry.id,
            "recipient_id": sender,
            "text": entry.text,
            "buttons": list(payload.get("buttons", [])),
            "custom": dict(payload.get("custom", {})),
        }
    return {
        "id": entry.id,
        "recipient_id": sender,
        "text": entry.text,
        "buttons": [],
        "custom": {"author": public_author(entry.author, locale or "zh")},
    }
