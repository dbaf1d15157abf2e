"""Hotspots: where complaints and reports gather, by region and by business, over time.

A business is its credit code when one is known; otherwise its name together with its region
(two 华为专卖店 in two cities are two businesses; a name with no region stays apart from the
same name placed somewhere). Counts are per week (from Monday) or per calendar month, in
Beijing time.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from bot.reports import name_key

Period = Literal["week", "month"]
UNKNOWN_REGION = "待定地区"


@dataclass(frozen=True)
class Business:
    key: str  # "uscc:<code>" or "name:<folded name>@<region code or ->"
    name: str
    uscc: str | None
    region: str  # the region's label, or UNKNOWN_REGION


@dataclass(frozen=True)
class Row:
    """One case as the hotspots count it."""

    day: date
    kind: str
    region_code: str | None
    region_label: str
    business: Business | None


@dataclass
class Hot:
    label: str
    total: int
    series: list[int]  # one count per period, oldest first
    complaints: int = 0
    reports: int = 0
    uscc: str | None = None
    region: str = ""


def business_of(
    kind: str, merchant: str | None, fields: dict[str, Any], respondent: dict[str, Any] | None
) -> Business | None:
    """The business a case is about, identified as well as the case allows."""
    r = respondent or {}
    region = r.get("region") or {}
    label = str(region.get("label") or UNKNOWN_REGION)
    shown = r.get("name") or r.get("shop") or merchant or fields.get("target_name")
    if r.get("uscc"):
        return Business(f"uscc:{r['uscc']}", str(shown or r["uscc"]), str(r["uscc"]), label)
    folded = name_key(str(shown)) if shown else None
    if not folded:
        return None
    return Business(f"name:{folded}@{region.get('code') or '-'}", str(shown), None, label)


def region_of(respondent: dict[str, Any] | None, region_code: str | None) -> tuple[str, str]:
    """(code, label) of a case's region; an undetermined region is one bucket of its own."""
    region = (respondent or {}).get("region") or {}
    if not region_code:
        return "", UNKNOWN_REGION
    return region_code, str(region.get("label") or region_code)


def periods(today: date, period: Period, count: int) -> list[date]:
    """The first day of each of the last ``count`` periods, oldest first."""
    if period == "week":
        monday = today - timedelta(days=today.weekday())
        return [monday - timedelta(weeks=i) for i in range(count - 1, -1, -1)]
    starts = []
    year, month = today.year, today.month
    for _ in range(count):
        starts.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return starts[::-1]


def period_of(day: date, period: Period) -> date:
    return day - timedelta(days=day.weekday()) if period == "week" else day.replace(day=1)


def by_region(rows: list[Row], starts: list[date], period: Period, n: int = 10) -> list[Hot]:
    index = {s: i for i, s in enumerate(starts)}
    series: dict[str, list[int]] = defaultdict(lambda: [0] * len(starts))
    names: dict[str, str] = {}
    for row in rows:
        slot = index.get(period_of(row.day, period))
        if slot is None:
            continue
        series[row.region_code or ""][slot] += 1
        names[row.region_code or ""] = row.region_label
    ranked = sorted(series.items(), key=lambda kv: (-sum(kv[1]), kv[0]))[:n]
    return [Hot(label=names[code], total=sum(s), series=s, region=code) for code, s in ranked]


def by_business(
    rows: list[Row], starts: list[date], period: Period, *, kind: str | None = None, n: int = 10
) -> list[Hot]:
    """The businesses with most cases (of ``kind``, or all) in the periods shown."""
    index = {s: i for i, s in enumerate(starts)}
    series: dict[str, list[int]] = defaultdict(lambda: [0] * len(starts))
    kinds: dict[str, Counter[str]] = defaultdict(Counter)
    who: dict[str, Business] = {}
    for row in rows:
        slot = index.get(period_of(row.day, period))
        if slot is None or row.business is None:
            continue
        key = row.business.key
        kinds[key][row.kind] += 1
        if kind is None or row.kind == kind:
            series[key][slot] += 1
            who.setdefault(key, row.business)
    ranked = sorted(series.items(), key=lambda kv: (-sum(kv[1]), who[kv[0]].name))[:n]
    return [
        Hot(
            label=who[key].name,
            total=sum(s),
            series=s,
            complaints=kinds[key]["complaint"],
            reports=kinds[key]["report"],
            uscc=who[key].uscc,
            region=who[key].region,
        )
        for key, s in ranked
        if sum(s)
    ]
