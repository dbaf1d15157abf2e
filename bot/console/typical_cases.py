"""Console page for typical cases (典型案例): the table of published summaries, a form to
publish one, and withdrawing. Workers read the table; supervisors publish and withdraw, and
each change is audited. The chat shows live cases by category (``bot/knowledge/cases.py``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from bot.api.deps import Runtime, client_ip, readers
from bot.console import session as cs
from bot.console.common import WORKERS, go, render
from bot.knowledge import cases
from bot.staff import audit

router = APIRouter(prefix="/console", include_in_schema=False)
EDITORS = ("supervisor",)


async def _page(
    request: Request,
    runtime: Runtime,
    user: cs.ConsoleUser,
    *,
    error: str | None = None,
    draft: cases.Draft | None = None,
    status: int = 200,
) -> HTMLResponse:
    async with readers(request, runtime)() as session:
        rows = await cases.listing(session)
    return render(
        request,
        "typical_cases.html",
        user,
        status=status,
        rows=rows,
        categories=cases.categories(),
        limits=cases.LIMITS,
        can_edit=user.staff.role in EDITORS,
        error=error,
        draft=draft,
    )


@router.get("/typical-cases")
async def typical_cases_page(request: Request, runtime: Runtime) -> HTMLResponse:
    user = await cs.current(request, runtime, *WORKERS)
    return await _page(request, runtime, user)


@router.post("/typical-cases")
async def publish_typical_case(
    request: Request,
    runtime: Runtime,
    csrf: Annotated[str, Form(max_length=64)],
    category: Annotated[str, Form(max_length=32)] = "",
    title_zh: Annotated[str, Form(max_length=400)] = "",
    title_en: Annotated[str, Form(max_length=400)] = "",
    summary_zh: Annotated[str, Form(max_length=4000)] = "",
    summary_en: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    user = await cs.current(request, runtime, *EDITORS)
    cs.check_csrf(user, csrf)
    draft = cases.Draft(category, title_zh, title_en, summary_zh, summary_en)
    try:
        async with runtime.sessions() as session, session.begin():
            row = cases.publish(session, draft, by=user.staff.username, now=runtime.now())
            await session.flush()
            audit.record(
                session,
                actor=user.staff.actor,
                action="typical_case_published",
                target=f"typical_case:{row.id}",
                ip=client_ip(request),
                detail={"category": row.category, "title": row.title_zh},
                now=runtime.now(),
            )
    except cases.CaseRefused as exc:
        # Nothing is lost: the form comes back with what was typed and the reason.
        return await _page(request, runtime, user, error=str(exc), draft=draft, status=422)
    return go("/console/typical-cases")


@router.post("/typical-cases/{case_id}/withdraw")
async def withdraw_typical_case(
    request: Request,
    runtime: Runtime,
    case_id: int,
    csrf: Annotated[str, Form(max_length=64)],
) -> Response:
    user = await cs.current(request, runtime, *EDITORS)
    cs.check_csrf(user, csrf)
    async with runtime.sessions() as session, session.begin():
        done = await cases.withdraw(session, case_id, by=user.staff.username, now=runtime.now())
        if done:
            audit.record(
                session,
                actor=user.staff.actor,
                action="typical_case_withdrawn",
                target=f"typical_case:{case_id}",
                ip=client_ip(request),
                now=runtime.now(),
            )
    if not done:
        return await _page(request, runtime, user, error=f"没有可撤下的案例 {case_id}", status=404)
    return go("/console/typical-cases")
