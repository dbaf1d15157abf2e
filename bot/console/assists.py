"""Console pages for assistance requests (协查): an office's list of requests asked of it and
its own, one request's thread, and asking from a case page."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from bot import assists
from bot.api.deps import RowId, Runtime, readers
from bot.cases import get_case
from bot.console import session as cs
from bot.console.common import WORKERS, case_for, go, render
from bot.deadlines import local_date
from bot.staff import views

router = APIRouter(prefix="/console", include_in_schema=False)


def _names(runtime: Runtime) -> dict[str, str]:
    return {o.key: o.name for o in runtime.directory.offices}


@router.get("/assists")
async def assists_page(request: Request, runtime: Runtime) -> HTMLResponse:
    user = await cs.current(request, runtime, *WORKERS)
    async with readers(request, runtime)() as session:
        found = await assists.lists(session, user.staff)
    return render(
        request,
        "assists.html",
        user,
        incoming=found.incoming,
        outgoing=found.outgoing,
        names=_names(runtime),
        states=assists.STATES,
        today=local_date(runtime.now()),
    )


async def _thread(
    request: Request, runtime: Runtime, user: cs.ConsoleUser, request_id: int, error: str = ""
) -> HTMLResponse:
    async with readers(request, runtime)() as session:
        try:
            found = await assists.held(session, request_id, user.staff)
        except assists.AssistError as exc:
            return render(request, "error.html", user, status=exc.status, message=exc.zh)
        case = await get_case(session, found.case_no)
        respondent = (case.respondent or {}) if case is not None else {}
        sees_case = case is not None and views.may_see(user.staff, case)
    return render(
        request,
        "assist.html",
        user,
        item=found,
        respondent=respondent,
        sees_case=sees_case,
        asking=assists.asking_side(user.staff, found),
        names=_names(runtime),
        states=assists.STATES,
        error=error,
        today=local_date(runtime.now()),
    )


@router.get("/assists/{request_id}")
async def assist_page(request: Request, runtime: Runtime, request_id: RowId) -> HTMLResponse:
    user = await cs.current(request, runtime, *WORKERS)
    return await _thread(request, runtime, user, request_id)


@router.post("/assists/{request_id}/{action}")
async def assist_action(
    request: Request,
    runtime: Runtime,
    request_id: RowId,
    action: str,
    csrf: Annotated[str, Form(max_length=64)],
    text: Annotated[str, Form(max_length=8000)] = "",
) -> Response:
    """``reply`` on the thread, or ``close`` (the asking side)."""
    user = await cs.current(request, runtime, *WORKERS)
    cs.check_csrf(user, csrf)
    if action not in {"reply", "close"}:
        return render(request, "error.html", user, status=404, message="没有这个操作")
    try:
        async with runtime.sessions() as session, session.begin():
            if action == "reply":
                await assists.answer(session, request_id, user.staff, text, now=runtime.now())
            else:
                await assists.close(session, request_id, user.staff, now=runtime.now())
    except assists.AssistError as exc:
        if exc.status == 422:
            return await _thread(request, runtime, user, request_id, error=exc.zh)
        return render(request, "error.html", user, status=exc.status, message=exc.zh)
    return go(f"/console/assists/{request_id}")


@router.post("/cases/{case_no}/assists")
async def case_ask(
    request: Request,
    runtime: Runtime,
    case_no: str,
    csrf: Annotated[str, Form(max_length=64)],
    office: Annotated[str, Form(max_length=32)] = "",
    subject: Annotated[str, Form(max_length=400)] = "",
    text: Annotated[str, Form(max_length=8000)] = "",
    due: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Ask another office about this case's business (whoever may see the case)."""
    user = await cs.current(request, runtime, *WORKERS)
    cs.check_csrf(user, csrf)
    async with runtime.sessions() as session, session.begin():
        case = await case_for(session, user, case_no)
        target = runtime.directory.get(office)
        try:
            when = date.fromisoformat(due) if due else assists.default_due(runtime.now())
        except ValueError:
            when = None
        try:
            if target is None:
                raise assists.AssistError(
                    "unknown_office",
                    "Choose the office from the directory.",
                    zh="请从名录中选择协查单位",
                )
            if when is None:
                raise assists.AssistError(
                    "invalid_due", "The due date is not a date.", zh="回复期限的日期不正确"
                )
            made = await assists.ask(
                session,
                case,
                target,
                staff=user.staff,
                subject=subject,
                text=text,
                due=when,
                now=runtime.now(),
            )
        except assists.AssistError as exc:
            await session.rollback()
            return render(request, "error.html", user, status=exc.status, message=exc.zh)
        made_id = made.id
    return go(f"/console/assists/{made_id}")
