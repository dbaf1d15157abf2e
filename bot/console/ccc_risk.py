"""Console page for the CCC risk feedback: supervisors download, per month, the listings and
certificate numbers consumers reported, for e-commerce platforms (``bot/ccc_feedback.py``).
The file names listings, shops and numbers, never a consumer; each download is audited."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from bot import ccc_feedback
from bot.api.deps import Runtime, client_ip, readers
from bot.console import session as cs
from bot.console.common import render
from bot.deadlines import local_date
from bot.staff import audit

router = APIRouter(prefix="/console", include_in_schema=False)
READERS = ("supervisor",)
TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@router.get("/ccc-risk")
async def ccc_risk(request: Request, runtime: Runtime) -> Response:
    """The month form; with ``month`` (and ``format``), that month's file."""
    user = await cs.current(request, runtime, *READERS)
    today = local_date(runtime.now())
    month = (request.query_params.get("month") or "").strip()[:20]
    fmt = request.query_params.get("format") or "csv"
    default = f"{today.year:04d}-{today.month:02d}"
    if not month:
        return render(request, "ccc_risk.html", user, month=default, error=None)
    try:
        ccc_feedback.month_bounds(month)
        if fmt not in TYPES:
            raise ValueError("format must be csv or xlsx")
    except ValueError:
        error = "月份请写成 2026-11 这样的格式，文件格式选 CSV 或 Excel"
        return render(request, "ccc_risk.html", user, status=422, month=default, error=error)
    async with readers(request, runtime)() as session:
        rows = await ccc_feedback.month_rows(session, month)
        await audit.log(
            session,
            actor=user.staff.actor,
            action="ccc_risk_exported",
            target=f"ccc-risk:{month}",
            ip=client_ip(request),
            detail={"rows": len(rows), "format": fmt},
            now=runtime.now(),
        )
    data = ccc_feedback.as_xlsx(rows, month) if fmt == "xlsx" else ccc_feedback.as_csv(rows)
    name = f"ccc-risk-{month}.{fmt}"
    return Response(
        data,
        media_type=TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
