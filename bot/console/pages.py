"""Console pages for cases, the dashboard, hand-off failures and staff accounts."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, get_args

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import assists, backoffice, ccc_feedback
from bot.api.cases import Status
from bot.api.deps import Runtime, client_ip, readers
from bot.business import offices
from bot.cases import get_case
from bot.console import charts
from bot.console import session as cs
from bot.console.common import WORKERS, case_for, go, render
from bot.db.models import Case, Evidence
from bot.deadlines import local_date
from bot.evidence import disposition as evidence_disposition
from bot.staff import audit, dashboard, report_password, views
from bot.staff.accounts import AccountError, add_staff, list_staff
from bot.staff.hotspots import Period
from bot.staff.passwords import WeakPassword
from bot.workflow import (
    WorkflowError,
    extend_verification,
    forward,
    forward_reasons,
    merge_report,
    not_accepted_reasons,
    pause_reasons,
    record_pause,
    record_reporter_notice,
    transition,
)

router = APIRouter(prefix="/console", include_in_schema=False)
KINDS = {"complaint": "投诉", "report": "举报"}
# The same statuses the API accepts, in workflow order.
STATUSES = list(get_args(Status))
DEADLINES = {
    "complaint_acceptance": "受理决定",
    "mediation_limit": "调解期限",
    "report_verification": "核查立案决定",
    "reporter_notice": "告知实名举报人",
}


OFFICE = re.compile(r"^(?:none|[a-z0-9][a-z0-9._-]{0,31})$")


def runtime_offices(request: Request) -> list[tuple[str, str]]:
    """(key, name) of the app's office directory, for the filter."""
    sellers = getattr(request.app.state, "sellers", None)
    if sellers is None:
        return []
    return [(o.key, o.name) for o in sellers.directory.offices]


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@router.get("/cases")
async def cases_page(request: Request, runtime: Runtime) -> HTMLResponse:
    user = await cs.current(request, runtime, *WORKERS)
    q = request.query_params
    kind = q.get("kind") if q.get("kind") in KINDS else None
    status = q.get("status") if q.get("status") in STATUSES else None
    overdue = {"1": True, "0": False}.get(q.get("overdue", ""))
    platform = (q.get("platform") or "").strip()[:32] or None
    date_from, date_to = _date(q.get("from")), _date(q.get("to"))
    office = q.get("office") if OFFICE.match(q.get("office") or "") else None
    region = q.get("region") if offices.PREFIX.match(q.get("region") or "") else None
    today = local_date(runtime.now())
    stmt = views.filtered(
        kind=kind,
        status=status,
        platform=platform,
        overdue=overdue,
        date_from=date_from,
        date_to=date_to,
        office=office,
        region=region,
        today=today,
    )
    # An office's agents see their own office's cases; supervisors choose.
    stmt = views.scoped(stmt, user.staff)
    async with readers(request, runtime)() as session:
        total = await views.count(session, stmt)
        rows = [views.summary(c, today) for c in (await session.execute(stmt.limit(200))).scalars()]
    filters = {
        "kind": kind,
        "status": status,
        "overdue": q.get("overdue", ""),
        "platform": platform or "",
        "from": q.get("from", ""),
        "to": q.get("to", ""),
        "office": office or "",
        "region": region or "",
    }
    return render(
        request,
        "cases.html",
        user,
        rows=rows,
        total=total,
        filters=filters,
        kinds=KINDS,
        statuses=STATUSES,
        offices=runtime_offices(request),
        scoped_to=user.staff.office if user.staff.role == "agent" else None,
    )


async def _case_page(
    request: Request,
    runtime: Runtime,
    user: cs.ConsoleUser,
    case_no: str,
    *,
    reveal: str | None = None,
    error: str | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    async with runtime.sessions() as session, session.begin():
        case = await case_for(session, user, case_no)
        data = views.detail(session, case, user.staff, now=runtime.now(), reveal_reason=reveal)
        case_assists = await assists.for_case(session, case.id)
        # The certificate numbers it names, each with how many consumer cases name it.
        certificates = await ccc_feedback.case_certificates(session, case.id)
    return render(
        request,
        "case.html",
        user,
        case=data,
        certificates=certificates,
        kinds=KINDS,
        deadline_names=DEADLINES,
        reasons=not_accepted_reasons(),
        pause_reasons=pause_reasons(),
        forward_reasons=forward_reasons(),
        case_assists=case_assists,
        assist_due=assists.default_due(runtime.now()).isoformat(),
        assist_states=assists.STATES,
        office_names={o.key: o.name for o in runtime.directory.offices},
        forward_offices=[
            (o.key, o.name) for o in runtime.directory.offices if o.key != data.get("office")
        ],
        error=error,
        notice=notice,
    )


@router.get("/cases/{case_no}")
async def case_page(request: Request, runtime: Runtime, case_no: str) -> HTMLResponse:
    user = await cs.current(request, runtime, *WORKERS)
    return await _case_page(request, runtime, user, case_no)


@router.post("/cases/{case_no}/reveal")
async def case_reveal(
    request: Request,
    runtime: Runtime,
    case_no: str,
    csrf: Annotated[str, Form(max_length=64)],
    reason: Annotated[str, Form(max_length=500)] = "",
) -> HTMLResponse:
    user = await cs.current(request, runtime, "supervisor")
    cs.check_csrf(user, csrf)
    if len(reason.strip()) < 5:
        return await _case_page(
            request, runtime, user, case_no, error="查看举报人身份须填写理由（至少 5 个字）"
        )
    return await _case_page(request, runtime, user, case_no, reveal=reason.strip())


@router.post("/cases/{case_no}/report-password")
async def case_report_password(
    request: Request,
    runtime: Runtime,
    case_no: str,
    csrf: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=64)] = "",
) -> HTMLResponse:
    """Reward payout: check the report password an anonymous reporter gives (audited)."""
    user = await cs.current(request, runtime, "supervisor")
    cs.check_csrf(user, csrf)
    async with runtime.sessions() as session, session.begin():
        case = await get_case(session, case_no)
        visible = case is not None and views.may_see(user.staff, case)
        if case is None or not visible or not report_password.has_password(case):
            return render(
                request, "error.html", user, status=404, message=f"案件 {case_no} 没有举报密码"
            )
        matches = bool(password) and await report_password.check(
            session, case, password, staff=user.staff, now=runtime.now()
        )
    if matches:
        return await _case_page(request, runtime, user, case_no, notice="举报密码核对一致。")
    return await _case_page(request, runtime, user, case_no, error="举报密码不一致。")


Step = Callable[[AsyncSession, cs.ConsoleUser, Case], Awaitable[Response | None]]


async def _work_on_case(
    request: Request, runtime: Runtime, case_no: str, csrf: str, step: Step
) -> Response:
    """Run ``step`` on a case the user may work, in one transaction. A refusal by the rules
    (``WorkflowError``) shows the case page with its reason and changes nothing; otherwise the
    page ``step`` returns, or the case again."""
    user = await cs.current(request, runtime, *WORKERS)
    cs.check_csrf(user, csrf)
    async with runtime.sessions() as session, session.begin():
        case = await case_for(session, user, case_no, work=True)
        try:
            page = await step(session, user, case)
        except WorkflowError as exc:
            await session.rollback()
            return await _case_page(request, runtime, user, case_no, error=exc.zh)
    runtime.wake_outbox()
    return page or go(f"/console/cases/{case_no}")


@router.post("/cases/{case_no}/transition")
async def case_transition(
    request: Request,
    runtime: Runtime,
    case_no: str,
    csrf: Annotated[str, Form(max_length=64)],
    to: Annotated[str, Form(max_length=32)],
    reason: Annotated[str, Form(max_length=64)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
    first: Annotated[str, Form(max_length=10)] = "",
    last: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    async def step(session: AsyncSession, user: cs.ConsoleUser, case: Case) -> None:
        actor, now, handoff = user.staff.actor, runtime.now(), runtime.handoff
        if to == "pause":
            start, end = _date(first), _date(last)
            if start is None or end is None:
                raise WorkflowError(
                    "invalid_pause",
                    "Give the pause's first and last day.",
                    zh="请填写暂停的起止日期",
                )
            await record_pause(
                session,
                case,
                actor=actor,
                now=now,
                handoff=handoff,
                reason=reason,
                first=start,
                last=end,
                note=note,
            )
        elif to == "extend_verification":
            await extend_verification(
                session, case, actor=actor, now=now, handoff=handoff, note=note
            )
        elif to == "reporter_notified":
            await record_reporter_notice(
                session, case, actor=actor, now=now, handoff=handoff, note=note
            )
        else:
            await transition(
                session,
                case,
                to,
                actor=actor,
                now=now,
                handoff=handoff,
                reason=reason or None,
                note=note,
            )

    return await _work_on_case(request, runtime, case_no, csrf, step)


@router.post("/cases/{case_no}/forward")
async def case_forward(
    request: Request,
    runtime: Runtime,
    case_no: str,
    csrf: Annotated[str, Form(max_length=64)],
    office: Annotated[str, Form(max_length=32)] = "",
    reason: Annotated[str, Form(max_length=64)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Forward (移送) the case to another region's office chosen from the directory."""

    async def step(session: AsyncSession, user: cs.ConsoleUser, case: Case) -> Response | None:
        target = runtime.directory.get(office)
        if target is None:
            raise WorkflowError(
                "unknown_office",
                "Choose the office from the directory.",
                zh="请从名录中选择承办单位",
            )
        await forward(
            session,
            case,
            target,
            actor=user.staff.actor,
            now=runtime.now(),
            handoff=runtime.handoff,
            reason=reason,
            note=note.strip(),
        )
        if views.may_see(user.staff, case):
            return None
        # An agent who forwarded their office's case no longer sees it: back to the list.
        return render(request, "forwarded.html", user, case_no=case_no, office=target.name)

    return await _work_on_case(request, runtime, case_no, csrf, step)


@router.post("/cases/{case_no}/merge")
async def case_merge(
    request: Request,
    runtime: Runtime,
    case_no: str,
    csrf: Annotated[str, Form(max_length=64)],
    into: Annotated[str, Form(max_length=16)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Merge this report into an earlier one proposed at filing as maybe the same target."""

    async def step(session: AsyncSession, user: cs.ConsoleUser, case: Case) -> None:
        target = await get_case(session, into) if into else None
        if target is None or not views.may_see(user.staff, target):
            raise WorkflowError(
                "unknown_case", "Choose the report to merge into.", zh="请选择要并入的举报"
            )
        await merge_report(
            session,
            case,
            target,
            actor=user.staff.actor,
            now=runtime.now(),
            handoff=runtime.handoff,
            note=note.strip(),
        )

    return await _work_on_case(request, runtime, case_no, csrf, step)


@router.get("/cases/{case_no}/evidence/{sha256}")
async def case_evidence(request: Request, runtime: Runtime, case_no: str, sha256: str) -> Response:
    user = await cs.current(request, runtime, *WORKERS)
    # Thumbnails on the case page are views too: each file shown or saved leaves a row.
    disposition = "attachment" if request.query_params.get("download") else "inline"
    async with runtime.sessions() as session, session.begin():
        case = await get_case(session, case_no)
        item = None
        if case is not None and views.may_see(user.staff, case):
            item = (
                (
                    await session.execute(
                        select(Evidence).where(
                            Evidence.case_id == case.id, Evidence.sha256 == sha256
                        )
                    )
                )
                .scalars()
                .first()
            )
        path = runtime.evidence.path_for(sha256) if len(sha256) == 64 and sha256.isalnum() else None
        if item is None or case is None or path is None or not path.exists():
            return HTMLResponse("没有这件证据", status_code=404)
        audit.record(
            session,
            actor=user.staff.actor,
            action="evidence_download",
            case_no=case.case_no,
            conversation_id=case.conversation_id,
            ip=client_ip(request),
            detail={"sha256": sha256, "filename": item.filename, "inline": disposition == "inline"},
            now=runtime.now(),
        )
    return Response(
        await runtime.evidence.load(sha256) or b"",
        media_type=item.content_type,
        headers={
            "X-Content-SHA256": sha256,
            "Content-Disposition": evidence_disposition(disposition, item.filename or sha256),
        },
    )


@router.get("/dashboard")
async def dashboard_page(request: Request, runtime: Runtime) -> HTMLResponse:
    user = await cs.current(request, runtime, *WORKERS)
    q = request.query_params
    asked = q.get("office") if OFFICE.match(q.get("office") or "") else None
    period: Period = "month" if q.get("period") == "month" else "week"
    office = views.office_for(user.staff, asked)
    async with readers(request, runtime)() as session:
        f = await dashboard.figures(session, now=runtime.now(), office=office, period=period)
    svgs = {
        "intake": charts.columns(f.days, title="近 30 天每日收案"),
        "kind": charts.hbars([(KINDS.get(k, k), n) for k, n in f.by_kind], title="按类型"),
        "category": charts.hbars(f.by_category, title="按品类/违法类型"),
        "platform": charts.hbars(f.by_platform, title="按平台"),
        "merchants": charts.hbars(f.merchants, title="被投诉举报最多的商家"),
        "regions": charts.hbars([(h.label, h.total) for h in f.regions], title="热点地区"),
    }
    return render(
        request,
        "dashboard.html",
        user,
        f=f,
        svgs=svgs,
        spark=charts.spark,
        offices=runtime_offices(request),
        scoped_to=user.staff.office if user.staff.role == "agent" else None,
        asked=asked or "",
    )


@router.get("/backoffice")
async def backoffice_page(request: Request, runtime: Runtime) -> HTMLResponse:
    user = await cs.current(request, runtime, "supervisor")
    async with readers(request, runtime)() as session:
        rows = await backoffice.deliveries(session)
    return render(request, "backoffice.html", user, rows=rows, url=runtime.settings.backoffice.url)


@router.get("/staff")
async def staff_page(request: Request, runtime: Runtime) -> HTMLResponse:
    return await _staff_view(request, runtime)


async def _staff_view(
    request: Request, runtime: Runtime, *, error: str | None = None
) -> HTMLResponse:
    """The staff list with a form's error; never from the query string (no reflected text)."""
    user = await cs.current(request, runtime, "admin")
    async with readers(request, runtime)() as session:
        people = await list_staff(session)
    return render(request, "staff.html", user, people=people, error=error)


@router.post("/staff")
async def staff_add(
    request: Request,
    runtime: Runtime,
    csrf: Annotated[str, Form(max_length=64)],
    username: Annotated[str, Form(max_length=32)],
    role: Annotated[str, Form(max_length=16)],
    password: Annotated[str, Form(max_length=256)],
) -> Response:
    user = await cs.current(request, runtime, "admin")
    cs.check_csrf(user, csrf)
    try:
        async with runtime.sessions() as session, session.begin():
            await add_staff(
                session,
                username=username.strip(),
                password=password,
                role=role,
                now=runtime.now(),
                actor=user.staff.actor,
            )
    except (AccountError, WeakPassword, ValidationError) as exc:
        return await _staff_view(request, runtime, error=str(exc))
    return RedirectResponse("/console/staff", status_code=303)
