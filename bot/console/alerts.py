"""Console page for consumer alerts (消费预警): publishing one and watching its fan-out.

Workers read the table; supervisors publish, and resume a fan-out a restart interrupted.
Publishing answers at once and sends in the background (``bot.alerts.fan_out``), in batches;
the table shows counts only (queued, sent, failed, waiting), never who received it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import HTMLResponse, Response

from bot import alerts
from bot.api.deps import Runtime, client_ip, readers
from bot.console import session as cs
from bot.console.common import WORKERS, go, render
from bot.knowledge.cases import categories
from bot.staff import audit
from dialogues.subscriptions import catalogue

router = APIRouter(prefix="/console", include_in_schema=False)
EDITORS = ("supervisor",)
CHANNEL_NAMES = {"wechat": "微信", "telegram": "Telegram", "rest": "网页聊天"}


async def _page(
    request: Request,
    runtime: Runtime,
    user: cs.ConsoleUser,
    *,
    error: str | None = None,
    draft: alerts.Draft | None = None,
    status: int = 200,
) -> HTMLResponse:
    async with readers(request, runtime)() as session:
        rows = await alerts.listing(session)
    return render(
        request,
        "alerts.html",
        user,
        status=status,
        rows=rows,
        categories=categories(),
        regions=list(catalogue().regions_zh()),
        limits=alerts.LIMITS,
        can_edit=user.staff.role in EDITORS,
        error=error,
        draft=draft,
        channel_names=CHANNEL_NAMES,
        # While an alert is being queued or delivered the page refreshes itself (no script).
        busy=any(not row.finished_at or counts.waiting for row, counts in rows),
    )


async def _send(runtime: Runtime, alert_id: int) -> None:
    await alerts.send(
        runtime.sessions,
        alert_id,
        now=runtime.now,
        running=runtime.alert_runs,
        wake=runtime.wake_outbox,
    )


@router.get("/alerts")
async def alerts_page(request: Request, runtime: Runtime) -> HTMLResponse:
    user = await cs.current(request, runtime, *WORKERS)
    return await _page(request, runtime, user)


@router.post("/alerts")
async def publish_alert(
    request: Request,
    runtime: Runtime,
    background: BackgroundTasks,
    csrf: Annotated[str, Form(max_length=64)],
    category: Annotated[str, Form(max_length=32)] = "",
    title_zh: Annotated[str, Form(max_length=400)] = "",
    title_en: Annotated[str, Form(max_length=400)] = "",
    text_zh: Annotated[str, Form(max_length=4000)] = "",
    text_en: Annotated[str, Form(max_length=4000)] = "",
    brands: Annotated[str, Form(max_length=2000)] = "",
    cert_nos: Annotated[str, Form(max_length=2000)] = "",
    regions: Annotated[str, Form(max_length=1000)] = "",
    source_url: Annotated[str, Form(max_length=600)] = "",
    valid_from: Annotated[str, Form(max_length=20)] = "",
    valid_until: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    user = await cs.current(request, runtime, *EDITORS)
    cs.check_csrf(user, csrf)
    draft = alerts.Draft(
        category,
        title_zh,
        title_en,
        text_zh,
        text_en,
        brands,
        cert_nos,
        regions,
        source_url,
        valid_from,
        valid_until,
    )
    try:
        async with runtime.sessions() as session, session.begin():
            row = alerts.publish(session, draft, by=user.staff.username, now=runtime.now())
            await session.flush()
            alert_id = row.id
            audit.record(
                session,
                actor=user.staff.actor,
                action="alert_published",
                target=f"alert:{row.id}",
                ip=client_ip(request),
                detail={"category": row.category, "title": row.title_zh},
                now=runtime.now(),
            )
    except alerts.AlertRefused as exc:
        # Nothing is lost: the form comes back with what was typed and the reason.
        return await _page(request, runtime, user, error=str(exc), draft=draft, status=422)
    background.add_task(_send, runtime, alert_id)
    return go("/console/alerts")


@router.post("/alerts/{alert_id}/resume")
async def resume_alert(
    request: Request,
    runtime: Runtime,
    background: BackgroundTasks,
    alert_id: int,
    csrf: Annotated[str, Form(max_length=64)],
) -> Response:
    user = await cs.current(request, runtime, *EDITORS)
    cs.check_csrf(user, csrf)
    async with runtime.sessions() as session:
        row = await session.get(alerts.AlertRow, alert_id)
    if row is None:
        return await _page(request, runtime, user, error=f"没有这条预警 {alert_id}", status=404)
    background.add_task(_send, runtime, alert_id)
    return go("/console/alerts")
