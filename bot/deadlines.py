"""Deadlines in working days on the official PRC holiday calendar, from data files."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import chinese_calendar

from nlu.datafile import read_yaml

RULES_DIR = Path(__file__).parent / "rules"
SHANGHAI = ZoneInfo("Asia/Shanghai")


@cache
def rules() -> dict[str, dict[str, Any]]:
    return read_yaml(RULES_DIR / "deadlines.yml")


@cache
def _overrides() -> tuple[frozenset[date], frozenset[date]]:
    data = read_yaml(RULES_DIR / "holidays.yml") or {}
    holidays = frozenset(date.fromisoformat(str(d)) for d in (data.get("holidays") or {}))
    workdays = frozenset(date.fromisoformat(str(d)) for d in (data.get("workdays") or {}))
    return holidays, workdays


def is_workday(day: date) -> tuple[bool, bool]:
    """(is it a working day, is that an estimate because no official calendar covers it)."""
    holidays, workdays = _overrides()
    if day in holidays:
        return False, False
    if day in workdays:
        return True, False
    try:
        return chinese_calendar.is_workday(day), False
    except NotImplementedError:
        return day.weekday() < 5, True


@dataclass(frozen=True)
class Deadline:
    due: date
    working_days: int
    estimated: bool


def add_working_days(start: date, days: int) -> Deadline:
    """The ``days``-th working day after ``start`` (the day of receipt itself is not counted)."""
    day, counted, estimated = start, 0, False
    while counted < days:
        day += timedelta(days=1)
        workday, guess = is_workday(day)
        estimated = estimated or guess
        counted += workday
    return Deadline(due=day, working_days=days, estimated=estimated)


def local_date(moment: datetime) -> date:
    return moment.astimezone(SHANGHAI).date()


def complaint_acceptance_due(received: datetime) -> Deadline:
    return add_working_days(
        local_date(received), int(rules()["complaint_acceptance"]["working_days"])
    )


def report_verification_due(received: datetime) -> Deadline:
    return add_working_days(
        local_date(received), int(rules()["report_verification"]["working_days"])
    )


def working_days_in(first: date, last: date) -> int:
    """Working days from ``first`` to ``last``, both included (0 when ``last`` is earlier)."""
    day, counted = first, 0
    while day <= last:
        counted += is_workday(day)[0]
        day += timedelta(days=1)
    return counted


def paused(due: date, first: date, last: date) -> Deadline:
    """``due`` moved by a pause from ``first`` to ``last`` (both included).

    Report verification does not count the time for testing, inspection, 鉴定 or the
    right-holder's identification (行政处罚程序规定 Art. 18 ¶2): each working day of the pause
    is added back. A pause after the deadline moves nothing."""
    if first > due:
        return Deadline(due=due, working_days=0, estimated=False)
    days = working_days_in(first, last)
    moved = add_working_days(due, days)
    return Deadline(due=moved.due, working_days=days, estimated=moved.estimated)


def restarted_on_forward(received_by_office: datetime, kind: str = "complaint") -> Deadline:
    """A forwarded case's deadline: the clock starts again when the office with jurisdiction
    receives it. A complaint's acceptance (FACTS corrections 2026-12-01, about 70 %); a
    report's verification (行政处罚程序规定 Art. 18 counts from receipt of the materials,
    UNCONFIRMED: ``report_verification.forwarded_rule`` in the rules)."""
    if kind == "report":
        return report_verification_due(received_by_office)
    return complaint_acceptance_due(received_by_office)
