"""Between offices over the API: assistance requests (协查) and clue notices (线索通报), what the
console's pages for them do (bot/console/assists.py, the queue page), for an office's own
system. Every step is audited by the functions both share."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from bot import assists
from bot.api.cases import CaseNo, load
from bot.api.deps import CaseStaff, RowId, Runtime, Session, client_ip
from bot.business import clues, offices
from bot.staff import views
from bot.staff.models import AssistRequest
from bot.web.errors import ApiError

router = APIRouter(prefix="/api/v1", tags=["between offices"])
OfficeKey = Annotated[str, Field(pattern=offices.KEY.pattern)]


class AskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    office: OfficeKey = Field(description="The office asked (directory key)")
    subject: str = Field(max_length=assists.MAX_SUBJECT)
    text: str = Field(max_length=assists.MAX_TEXT)
    due: date | None = Field(default=None, description="Default: the rules' working days")


class ReplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=assists.MAX_TEXT)


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(default="", max_length=500)


def request_dict(item: AssistRequest, *, thread: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": item.id,
        "case_no": item.case_no,
        "from_office": item.from_office,
        "to_office": item.to_office,
        "subject": item.subject,
        "due": item.due.isoformat(),
        "status": item.status,
        "created_by": item.created_by,
        "created_at": item.created_at.isoformat(),
        "closed_by": item.closed_by,
        "closed_at": item.closed_at.isoformat() if item.closed_at else None,
    }
    if thread:
        data["messages"] = [
            {"author": m.author, "office": m.office, "text": m.text, "at": m.at.isoformat()}
            for m in item.messages
        ]
    return data


def notice_dict(notice: clues.ClueNotice) -> dict[str, Any]:
    return {
        "id": notice.id,
        "office": notice.office,
        "name": notice.name,
        "uscc": notice.uscc,
        "region_code": notice.region_code,
        "region_label": notice.region_label,
        "reports": notice.reports,
        "status": notice.status,
        "created_at": notice.created_at.isoformat(),
        "updated_at": notice.updated_at.isoformat(),
        "decided_by": notice.decided_by,
        "decided_at": notice.decided_at.isoformat() if notice.decided_at else None,
    }


def refused(exc: assists.AssistError) -> ApiError:
    return ApiError(exc.status, exc.code, str(exc))


@router.get("/assists")
async def list_assists(staff: CaseStaff, session: Session) -> dict[str, Any]:
    """Open requests: asked of the staff member's office and asked by it (every office's, as
    ``incoming``, for supervisors and agents of a setup without offices)."""
    found = await assists.lists(session, staff)
    return {
        "incoming": [request_dict(r) for r in found.incoming],
        "outgoing": [request_dict(r) for r in found.outgoing],
    }


@router.get("/assists/{request_id}")
async def get_assist(request_id: RowId, staff: CaseStaff, session: Session) -> dict[str, Any]:
    """One request with its thread, for the two offices in it (404 for anyone else)."""
    try:
        return request_dict(await assists.held(session, request_id, staff), thread=True)
    except assists.AssistError as exc:
        raise refused(exc) from None


@router.post("/cases/{case_no}/assists", status_code=201)
async def ask(
    case_no: CaseNo, body: AskIn, staff: CaseStaff, runtime: Runtime, session: Session
) -> dict[str, Any]:
    """Ask another office about this case's business (whoever may see the case)."""
    case = await load(session, case_no, staff)
    office = runtime.directory.get(body.office)
    if office is None:
        raise ApiError(422, "unknown_office", f"No office {body.office!r} in the directory.")
    try:
        made = await assists.ask(
            session,
            case,
            office,
            staff=staff,
            subject=body.subject,
            text=body.text,
            due=body.due or assists.default_due(runtime.now()),
            now=runtime.now(),
        )
        return request_dict(await assists.held(session, made.id, staff), thread=True)
    except assists.AssistError as exc:
        raise refused(exc) from None


@router.post("/assists/{request_id}/reply")
async def reply(
    request_id: RowId, body: ReplyIn, staff: CaseStaff, runtime: Runtime, session: Session
) -> dict[str, Any]:
    """A message on the thread; from the asked office it marks the request answered."""
    try:
        done = await assists.answer(session, request_id, staff, body.text, now=runtime.now())
        await session.flush()
        await session.refresh(done, ["messages"])
    except assists.AssistError as exc:
        raise refused(exc) from None
    return request_dict(done, thread=True)


@router.post("/assists/{request_id}/close")
async def close(
    request_id: RowId, staff: CaseStaff, runtime: Runtime, session: Session
) -> dict[str, Any]:
    """The asking office ends the request."""
    try:
        return request_dict(await assists.close(session, request_id, staff, now=runtime.now()))
    except assists.AssistError as exc:
        raise refused(exc) from None


@router.get("/clues")
async def list_clues(
    staff: CaseStaff,
    session: Session,
    office: Annotated[str | None, Query(pattern=offices.KEY.pattern)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """Open clue notices: an office's agent gets their office's; others every office's, or
    the ``office`` asked for."""
    narrowed = views.office_for(staff, office)
    found = await clues.open_notices(session, office=narrowed, limit=limit)
    return {"items": [notice_dict(n) for n in found]}


@router.post("/clues/{notice_id}/{decision}")
async def decide_clue(
    notice_id: RowId,
    decision: Literal["acknowledge", "dismiss"],
    body: DecisionIn,
    request: Request,
    staff: CaseStaff,
    runtime: Runtime,
    session: Session,
) -> dict[str, Any]:
    """Acknowledge (taken up) or dismiss an open notice: the receiving office's agents or a
    supervisor; audited with who and why."""
    try:
        notice = await clues.decide(
            session,
            notice_id,
            decision,
            staff=staff,
            now=runtime.now(),
            note=body.note.strip(),
            ip=client_ip(request),
        )
    except clues.NoticeError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None
    return notice_dict(notice)
