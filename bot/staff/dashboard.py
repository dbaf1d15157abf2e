"""Figures for the dashboard: intake per day, breakdowns, overdue cases, hotspots."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Case
from bot.deadlines import SHANGHAI, local_date
from bot.staff import hotspots, labels
from bot.staff.hotspots import Hot, Period

# How many weeks or months the hotspots look back.
SPAN = {"week": 12, "month": 12}


@dataclass
class Figures:
    days: list[tuple[date, int]]
    by_kind: list[tuple[str, int]]
    by_category: list[tuple[str, int]]
    by_platform: list[tuple[str, int]]
    merchants: list[tuple[str, int]]
    overdue: int
    open_cases: int
    total: int
    period: Period = "week"
    periods: list[date] = field(default_factory=list)
    regions: list[Hot] = field(default_factory=list)
    by_complaints: list[Hot] = field(default_factory=list)
    by_reports: list[Hot] = field(default_factory=list)
    office: str | None = None
    extra: dict[str, int] = field(default_factory=dict)


def _top(counter: Counter[str], n: int = 10) -> list[tuple[str, int]]:
    return [(k, v) for k, v in counter.most_common(n) if k]


async def figures(
    session: AsyncSession,
    *,
    now: datetime,
    days: int = 30,
    office: str | None = None,
    period: Period = "week",
) -> Figures:
    """Counts over the last ``days`` local days and hotspots over the last weeks or months;
    ``office`` narrows everything to that office's cases ("none": cases not routed yet)."""
    today = local_date(now)
    start = today - timedelta(days=days - 1)
    starts = hotspots.periods(today, period, SPAN[period])
    since = datetime.combine(min(start, starts[0]), time(), SHANGHAI)
    scope: list[Any] = []
    if office == "none":
        scope.append(Case.office.is_(None))
    elif office:
        scope.append(Case.office == office)
    rows = (
        await session.execute(
            select(
                Case.submitted_at,
                Case.kind,
                Case.platform,
                Case.merchant,
                Case.fields,
                Case.respondent,
                Case.region_code,
            ).where(Case.submitted_at >= since, *scope)
        )
    ).all()
    per_day: Counter[date] = Counter()
    kinds: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    platforms: Counter[str] = Counter()
    merchants: Counter[str] = Counter()
    hot: list[hotspots.Row] = []
    for submitted, kind, platform, merchant, fields, respondent, region_code in rows:
        fields = fields or {}
        day = local_date(submitted)
        code, label = hotspots.region_of(respondent, region_code)
        hot.append(
            hotspots.Row(
                day, kind, code, label, hotspots.business_of(kind, merchant, fields, respondent)
            )
        )
        if day < start:
            continue
        per_day[day] += 1
        kinds[kind] += 1
        categories[labels.category(kind, fields) or "其他"] += 1
        platforms[platform or "线下/未知"] += 1
        target = labels.target(kind, merchant, fields)
        if target:
            merchants[target] += 1
    overdue = await session.execute(
        select(func.count()).where(Case.decision_due < today, Case.status != "closed", *scope)
    )
    open_cases = await session.execute(select(func.count()).where(Case.status != "closed", *scope))
    total = await session.execute(select(func.count()).select_from(Case).where(*scope))
    return Figures(
        days=[(start + timedelta(days=i), per_day[start + timedelta(days=i)]) for i in range(days)],
        by_kind=_top(kinds),
        by_category=_top(categories),
        by_platform=_top(platforms),
        merchants=_top(merchants),
        overdue=int(overdue.scalar_one()),
        open_cases=int(open_cases.scalar_one()),
        total=int(total.scalar_one()),
        period=period,
        periods=starts,
        regions=hotspots.by_region(hot, starts, period),
        by_complaints=hotspots.by_business(hot, starts, period, kind="complaint"),
        by_reports=hotspots.by_business(hot, starts, period, kind="report"),
        office=office,
    )
