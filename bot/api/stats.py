"""``GET /api/v1/dashboard``: the dashboard's figures as JSON."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from bot.api.deps import CaseStaff, Runtime, Session
from bot.staff import views
from bot.staff.dashboard import figures
from bot.staff.hotspots import Hot

router = APIRouter(prefix="/api/v1", tags=["dashboard"])


def _hot(items: list[Hot]) -> list[dict[str, Any]]:
    return [
        {
            "name": h.label,
            "uscc": h.uscc,
            "region": h.region,
            "count": h.total,
            "series": h.series,
            "complaints": h.complaints,
            "reports": h.reports,
        }
        for h in items
    ]


@router.get("/dashboard")
async def dashboard(
    staff: CaseStaff,
    runtime: Runtime,
    session: Session,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
    office: Annotated[str | None, Query(pattern=r"^(?:none|[a-z0-9][a-z0-9._-]{0,31})$")] = None,
    period: Literal["week", "month"] = "week",
) -> dict[str, Any]:
    """An office's agent gets their office's figures whatever ``office`` says."""
    f = await figures(
        session,
        now=runtime.now(),
        days=days,
        office=views.office_for(staff, office),
        period=period,
    )
    return {
        "office": f.office,
        "intake_per_day": [{"day": d.isoformat(), "count": n} for d, n in f.days],
        "by_kind": dict(f.by_kind),
        "by_category": dict(f.by_category),
        "by_platform": dict(f.by_platform),
        "top_merchants": [{"name": k, "count": v} for k, v in f.merchants],
        "overdue": f.overdue,
        "open": f.open_cases,
        "total": f.total,
        "hotspots": {
            "period": f.period,
            "periods": [d.isoformat() for d in f.periods],
            "regions": [
                {"region": h.region or None, "name": h.label, "count": h.total, "series": h.series}
                for h in f.regions
            ],
            "businesses_by_complaints": _hot(f.by_complaints),
            "businesses_by_reports": _hot(f.by_reports),
        },
    }
