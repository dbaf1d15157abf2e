"""Idempotent bulk upsert of validated export rows into an embedded registry table.

Rows are written in batches, one transaction each, with INSERT … ON CONFLICT DO UPDATE on
both SQLite and PostgreSQL, so re-running an import changes nothing and an interrupted
import can simply be run again. Each registry describes its table (``Table``): the conflict
key, what a re-import may replace, and how a row is written and named.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.base import utcnow
from bot.db.dialect import insert_for
from integrations.tabular import RowError

BATCH = 10_000
T = TypeVar("T")


@dataclass
class ImportReport:
    """What an import did, including every row it did not take and why."""

    rows: int = 0  # data rows read (blank lines excluded)
    imported: int = 0  # rows written (after collapsing duplicates)
    new: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)
    duplicates: list[RowError] = field(default_factory=list)


@dataclass(frozen=True)
class Table(Generic[T]):
    model: type[Any]
    key: tuple[str, ...]  # the conflict columns
    updatable: tuple[str, ...]  # replaced on re-import
    values: Callable[[T, datetime], dict[str, Any]]  # the row to write
    identity: Callable[[T], Hashable]  # the same entry twice in one file
    name: Callable[[T], str]  # how a duplicate is named to the user


async def upsert(engine: AsyncEngine, table: Table[T], items: Iterable[T]) -> int:
    """Insert or update one batch in one transaction; returns rows written."""
    now = utcnow()
    rows = [table.values(item, now) for item in items]
    if not rows:
        return 0
    stmt = insert_for(engine.dialect.name, table.model)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(table.key), set_={c: stmt.excluded[c] for c in table.updatable}
    )
    async with engine.begin() as conn:
        await conn.execute(stmt, rows)
    return len(rows)


async def count(engine: AsyncEngine, table: Table[Any]) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table.model)) or 0)


async def import_rows(
    engine: AsyncEngine,
    table: Table[T],
    rows: Iterator[tuple[int, T | RowError]],
    *,
    batch_size: int = BATCH,
) -> ImportReport:
    """Write validated rows; the same entry twice in one file: the last row wins."""
    report = ImportReport()
    before = await count(engine, table)
    first_line: dict[Hashable, int] = {}  # entry -> line it first appeared on
    batch: dict[Hashable, T] = {}
    for line, item in rows:
        report.rows += 1
        if isinstance(item, RowError):
            report.errors.append(item)
            continue
        key = table.identity(item)
        seen = first_line.setdefault(key, line)
        if seen != line:
            report.duplicates.append(
                RowError(line, f"{table.name(item)} already on line {seen}; this later row is used")
            )
        batch[key] = item
        if len(batch) >= batch_size:
            await upsert(engine, table, batch.values())
            batch = {}
    await upsert(engine, table, batch.values())
    report.imported = len(first_line)
    report.new = await count(engine, table) - before
    report.updated = report.imported - report.new
    return report
