"""Assistance requests (协查): staff of one office ask another office about a business or a
case, on the case, with a due date; both sides answer in a thread until the asking side
closes it. Every step is audited.

The asking side is the case's office; the asked side sees the request (its subject, the
respondent as a business, the thread) in its own list without seeing the case itself, whose
personal data stays with the office that holds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.business.offices import Office
from bot.db.models import Case
from bot.deadlines import add_working_days, local_date
from bot.staff import audit
from bot.staff.accounts import Staff
from bot.staff.models import AssistMessage, AssistRequest
from bot.staff.push import workflow_rules

MAX_TEXT = 4000
MAX_SUBJECT = 200
# A request's states as staff read them.
STATES = {"open": "待回复", "answered": "已回复", "closed": "已结束"}


class AssistError(ValueError):
    """A request or answer the rules refuse, with the HTTP status it maps to: ``message`` is
    the API's (English, as its other errors), ``zh`` what the console shows staff."""

    def __init__(self, code: str, message: str, *, zh: str, status: int = 422) -> None:
        super().__init__(message)
        self.code, self.zh, self.status = code, zh, status


def default_due(now: datetime) -> date:
    """The due date the form proposes: a working convention from the rules, not a legal term."""
    days = int(workflow_rules()["assist"]["default_working_days"])
    return add_working_days(local_date(now), days).due


def may_take_part(staff: Staff, request: AssistRequest) -> bool:
    """The asking and the asked office's agents; supervisors, and agents of a setup without
    offices, take part in every request."""
    if staff.role == "supervisor" or (staff.role == "agent" and staff.office is None):
        return True
    return staff.role == "agent" and staff.office in {request.from_office, request.to_office}


def asking_side(staff: Staff, request: AssistRequest) -> bool:
    return staff.role == "supervisor" or staff.office in {None, request.from_office}


def _text(value: str, limit: int, what: str, what_en: str) -> str:
    value = value.strip()
    if not value:
        raise AssistError("invalid_request", f"Give the {what_en}.", zh=f"请填写{what}")
    if len(value) > limit:
        raise AssistError(
            "invalid_request",
            f"The {what_en} is longer than {limit} characters.",
            zh=f"{what}不能超过 {limit} 个字",
        )
    return value


async def ask(
    session: AsyncSession,
    case: Case,
    office: Office,
    *,
    staff: Staff,
    subject: str,
    text: str,
    due: date,
    now: datetime,
) -> AssistRequest:
    """Open a request from the case's office to ``office``, with its first message."""
    if office.key == case.office:
        raise AssistError(
            "same_office",
            "That office already has the case: ask another.",
            zh="协查对象是本案承办单位，请选择其他单位",
        )
    if due < local_date(now):
        raise AssistError("invalid_due", "The due date is before today.", zh="回复期限不能早于今天")
    request = AssistRequest(
        case_id=case.id,
        case_no=case.case_no,
        from_office=case.office,
        to_office=office.key,
        subject=_text(subject, MAX_SUBJECT, "协查事项", "subject"),
        due=due,
        status="open",
        created_by=staff.actor,
        created_at=now,
    )
    session.add(request)
    await session.flush()
    session.add(
        AssistMessage(
            request_id=request.id,
            author=staff.actor,
            office=case.office,
            text=_text(text, MAX_TEXT, "协查内容", "text"),
            at=now,
        )
    )
    audit.record(
        session,
        actor=staff.actor,
        action="assist_request",
        case_no=case.case_no,
        detail={"request": request.id, "to_office": office.key, "due": due.isoformat()},
        now=now,
    )
    return request


async def held(session: AsyncSession, request_id: int, staff: Staff) -> AssistRequest:
    """The request with its thread, if ``staff`` takes part in it (404 otherwise)."""
    request = (
        await session.execute(
            select(AssistRequest)
            .where(AssistRequest.id == request_id)
            .options(selectinload(AssistRequest.messages))
        )
    ).scalar_one_or_none()
    if request is None or not may_take_part(staff, request):
        raise AssistError(
            "not_found",
            f"No assistance request {request_id}.",
            zh=f"没有协查请求 {request_id}",
            status=404,
        )
    return request


async def answer(
    session: AsyncSession, request_id: int, staff: Staff, text: str, *, now: datetime
) -> AssistRequest:
    """A message on the thread; from the asked office it marks the request answered."""
    request = await held(session, request_id, staff)
    if request.status == "closed":
        raise AssistError("closed", "The request has ended.", zh="该协查请求已结束", status=409)
    asked = staff.office is not None and staff.office == request.to_office
    session.add(
        AssistMessage(
            request_id=request.id,
            author=staff.actor,
            office=staff.office,
            text=_text(text, MAX_TEXT, "回复内容", "text"),
            at=now,
        )
    )
    if asked:
        request.status = "answered"
    audit.record(
        session,
        actor=staff.actor,
        action="assist_reply",
        case_no=request.case_no,
        detail={"request": request.id, "office": staff.office},
        now=now,
    )
    return request


async def close(
    session: AsyncSession, request_id: int, staff: Staff, *, now: datetime
) -> AssistRequest:
    """The asking side ends the request."""
    request = await held(session, request_id, staff)
    if not asking_side(staff, request):
        raise AssistError(
            "forbidden",
            "The asking office ends a request.",
            zh="协查请求由发起单位结束",
            status=403,
        )
    if request.status == "closed":
        raise AssistError("closed", "The request has ended.", zh="该协查请求已结束", status=409)
    request.status, request.closed_by, request.closed_at = "closed", staff.actor, now
    audit.record(
        session,
        actor=staff.actor,
        action="assist_close",
        case_no=request.case_no,
        detail={"request": request.id},
        now=now,
    )
    return request


def _listed() -> Select[AssistRequest]:
    return select(AssistRequest).order_by(AssistRequest.due, AssistRequest.id)


async def for_case(session: AsyncSession, case_id: int) -> list[AssistRequest]:
    stmt = _listed().where(AssistRequest.case_id == case_id)
    return list(
        (await session.execute(stmt.options(selectinload(AssistRequest.messages)))).scalars()
    )


@dataclass(frozen=True)
class Lists:
    """What an office sees: requests asked of it, and its own, still open."""

    incoming: list[AssistRequest]
    outgoing: list[AssistRequest]


async def lists(session: AsyncSession, staff: Staff) -> Lists:
    still_open = _listed().where(AssistRequest.status != "closed")
    if staff.role != "agent" or staff.office is None:  # across offices: every open request
        return Lists(list((await session.execute(still_open)).scalars()), [])
    incoming = still_open.where(AssistRequest.to_office == staff.office)
    outgoing = still_open.where(AssistRequest.from_office == staff.office)
    return Lists(
        list((await session.execute(incoming)).scalars()),
        list((await session.execute(outgoing)).scalars()),
    )
