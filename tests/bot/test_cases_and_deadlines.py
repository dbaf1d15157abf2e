"""Case numbers unique across workers; deadlines in PRC working days."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, date, datetime

import pytest

from bot.cases import next_case_no
from bot.db.engine import make_engine, make_sessionmaker
from bot.deadlines import add_working_days, complaint_acceptance_due, rules


async def test_case_numbers_unique_across_workers(db_url: str) -> None:
    # Two engines stand for two worker processes, each with its own connections.
    engines = [make_engine(db_url) for _ in range(2)]
    makers = [make_sessionmaker(e) for e in engines]
    at = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)

    async def allocate(i: int) -> str:
        async with makers[i % 2]() as session, session.begin():
            return await session.run_sync(next_case_no, kind="complaint", at=at)

    try:
        numbers = await asyncio.gather(*(allocate(i) for i in range(40)))
        async with makers[0]() as session, session.begin():
            report = await session.run_sync(next_case_no, kind="report", at=at)
    finally:
        for engine in engines:
            await engine.dispose()
    assert len(set(numbers)) == 40
    assert sorted(numbers) == [f"TS20261127{n:06d}" for n in range(1, 41)]
    assert report == "JB20261127000001"


async def test_case_number_uses_shanghai_date(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            # 2026-11-27 20:30 UTC is already 28 November in Shanghai.
            number = await session.run_sync(
                next_case_no, kind="complaint", at=datetime(2026, 11, 27, 20, 30, tzinfo=UTC)
            )
    finally:
        await engine.dispose()
    assert re.fullmatch(r"TS20261128\d{6}", number)


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (date(2026, 11, 27), date(2026, 12, 8)),  # Friday: weekends skipped
        (date(2026, 9, 28), date(2026, 10, 13)),  # National Day golden week skipped
        (date(2026, 2, 13), date(2026, 3, 2)),  # Spring Festival 2026 skipped
    ],
)
def test_acceptance_deadline_on_holiday_calendar(received: date, due: date) -> None:
    deadline = add_working_days(received, 7)
    assert deadline.due == due
    assert not deadline.estimated


def test_year_without_official_calendar_is_flagged_as_estimate() -> None:
    deadline = add_working_days(date(2026, 12, 28), 7)
    assert deadline.estimated
    assert deadline.due == date(2027, 1, 6)


def test_deadline_values_come_from_the_data_file() -> None:
    data = rules()["complaint_acceptance"]
    assert data["working_days"] == 7 and "Order" in data["rule"]
    deadline = complaint_acceptance_due(datetime(2026, 11, 27, 2, 0, tzinfo=UTC))
    assert deadline.working_days == 7 and deadline.due == date(2026, 12, 8)
