"""``GET /api/v1/dashboard``: the dashboard's figures as JSON."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from bot.api.deps import CaseStaff, Runtime, Session
from bot.staff.dashboard import figures

router = APIRouter(prefix="/api/v1", tags=["dashboard"])


@router.get("/dashboard")
async def dashboard(
    staff: CaseStaff,
    runtime: Runtime,
    session: Session,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
) -> dict[str, Any]:
    f = await figures(session, now=runtime.now(), days=days)
    return {
        "intake_per_day": [{"day": d.isoformat(), "count": n} for d, n in f.days],
        "by_kind": dict(f.by_kind),
        "by_category": dict(f.by_category),
        "by_platform": dict(f.by_platform),
        "top_merchants": [{"name": k, "count": v} for k, v in f.merchants],
        "overdue": f.overdue,
        "open": f.open_cases,
        "total": f.total,
    }
