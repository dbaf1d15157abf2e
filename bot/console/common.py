"""What every console page shares: the templates with their filters, the security headers,
``render`` and ``go``. The page modules import this one and never each other."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from bot.console import session as cs
from bot.deadlines import SHANGHAI
from dialogues.flows import all_flows
from dialogues.texts import t

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
    try:
        return t("zh", f"status.label.{status}")
    except KeyError:
        return status


# Case fields set at submission rather than asked.
_OTHER_FIELDS = {"identity_code": "身份代码（匿名举报人领奖用）"}


def field_label(slot: str, kind: str) -> str:
    """The question's own label from the flow definition (``field.product`` → 商品)."""
    flow = all_flows().get(kind)
    if flow is not None and flow.has_step(slot):
        return t("zh", flow.step(slot).label)
    return _OTHER_FIELDS.get(slot, slot)


def field_value(value: Any) -> str:
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list):
        return "、".join(_demand(v) for v in value) or "—"
    return "—" if value in (None, "") else str(value)


def _demand(value: Any) -> str:
    try:
        return t("zh", f"demand.{value}")
    except KeyError:
        return str(value)


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
