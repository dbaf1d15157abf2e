"""Figures for the dashboard: intake per day, breakdowns, overdue cases, hotspots."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Case
from bot.deadlines import SHANGHAI, local_date


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
    extra: dict[str, int] = field(default_factory=dict)


def _top(counter: Counter[str], n: int = 10) -> list[tuple[str, int]]:
    return [(k, v) for k, v in counter.most_common(n) if k]


async def figures(session: AsyncSession, *, now: datetime, days: int = 30) -> Figures:
    """Counts over the last ``days`` local days; hotspots are what regulators look for."""
    today = local_date(now)
    start = today - timedelta(days=days - 1)
    since = datetime.combine(start, time(), SHANGHAI)
    rows = (
        await session.execute(
            select(Case.submitted_at, Case.kind, Case.platform, Case.merchant, Case.fields).where(
                Case.submitted_at >= since
            )
        )
    ).all()
    per_day: Counter[date] = Counter()
    kinds: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    platforms: Counter[str] = Counter()
    merchants: Counter[str] = Counter()
    for submitted, kind, platform, merchant, fields in rows:
        per_day[local_date(submitted)] += 1
        kinds[kind] += 1
        fields = fields or {}
        categories[str(fields.get("violation" if kind == "report" else "product") or "其他")] += 1
        platforms[platform or "线下/未知"] += 1
        target = merchant or fields.get("target_name")
        if target:
            merchants[str(target)] += 1
    overdue = await session.execute(
        select(func.count()).where(Case.decision_due < today, Case.status != "closed")
    )
    open_cases = await session.execute(select(func.count()).where(Case.status != "closed"))
    total = await session.execute(select(func.count()).select_from(Case))
    return Figures(
        days=[(start + timedelta(days=i), per_day[start + timedelta(days=i)]) for i in range(days)],
        by_kind=_top(kinds),
        by_category=_top(categories),
        by_platform=_top(platforms),
        merchants=_top(merchants),
        overdue=int(overdue.scalar_one()),
        open_cases=int(open_cases.scalar_one()),
        total=int(total.scalar_one()),
    )
