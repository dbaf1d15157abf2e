"""What every console page shares: the templates with their filters, the security headers,
``render`` and ``go``. The page modules import this one and never each other."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cases import get_case
from bot.console import session as cs
from bot.db.models import Case
from bot.deadlines import SHANGHAI
from bot.staff import labels, views

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
WORKERS = ("agent", "supervisor")
REASONS = {"asked": "用户要求", "safety": "涉及安全", "not_understood": "机器人未理解"}
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def status_label(status: str) -> str:
    return labels.status(status)


def field_label(slot: str, kind: str) -> str:
    """The question's own label from the flow definition (``field.product`` → 商品)."""
    return labels.field_name(kind, slot)


def field_value(value: Any, kind: str = "", slot: str = "") -> str:
    """A case fact as staff read it: a choice's label, never its key."""
    return labels.field_value(kind, slot, value)


def local_time(iso: str) -> str:
    """Staff read times in Beijing time; storage is UTC."""
    return datetime.fromisoformat(iso).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


templates.env.filters["status_label"] = status_label
templates.env.filters["local"] = local_time
# Fields a photo's reading may carry (dialogues/reading.py), as staff read them.
templates.env.globals["READ_FIELDS"] = {
    "ccc_number": "3C证书编号",
    "model": "型号",
    "brand": "品牌",
    "holder": "持证人",
    "manufacturer": "制造商",
    "sc_licence": "食品生产许可证编号",
    "drug_approval": "药品批准文号",
    "cosmetics_filing": "化妆品注册/备案编号",
}
templates.env.filters["field_label"] = field_label
templates.env.filters["field_value"] = field_value
templates.env.filters["kind_label"] = labels.kind
templates.env.filters["channel_label"] = labels.channel
templates.env.filters["event_label"] = labels.event
templates.env.filters["actor_label"] = labels.actor
templates.env.globals["REASONS"] = REASONS


def render(
    request: Request, name: str, user: cs.ConsoleUser | None, status: int = 200, **ctx: Any
) -> HTMLResponse:
    context = {"user": user.staff if user else None, "csrf": user.csrf if user else "", **ctx}
    response = templates.TemplateResponse(request, name, context, status_code=status)
    response.headers.update(HEADERS)
    return response


def go(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


async def case_for(
    session: AsyncSession, user: cs.ConsoleUser, case_no: str, *, work: bool = False
) -> Case:
    """The case ``user`` may see, or a 404 page (another office's case is as unknown as a
    wrong number); with ``work``, one they may also work, or a 403 page (reports are worked
    by supervisors)."""
    case = await get_case(session, case_no)
    if case is None or not views.may_see(user.staff, case):
        raise cs.NotFound(user, f"没有找到案件 {case_no}")
    if work and not views.may_work(user.staff, case):
        raise cs.Forbidden("举报案件由主管处理")
    return case
