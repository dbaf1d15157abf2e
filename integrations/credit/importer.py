"""Idempotent bulk upsert of credit listings into the embedded registry.

As for certificates (``integrations.ccc.importer``): batches, one transaction each, INSERT …
ON CONFLICT DO UPDATE on SQLite and PostgreSQL. The key is (code, list, day listed), so a
re-import changes nothing and a later export that adds a removal date updates the listing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.base import utcnow
from bot.db.dialect import insert_for
from dialogues.credit_port import CreditList, CreditRecord
from integrations.credit.models import CreditEntry
from integrations.credit.reader import folded_name, read_file
from integrations.tabular import Progress, RowError

BATCH = 10_000
_KEY = ("uscc", "list", "listed_on")
_UPDATABLE = ("name", "name_key", "reason", "authority", "removed_on", "is_sample", "updated_at")


@dataclass
class ImportReport:
    """What an import did, including every row it did not take and why."""

    rows: int = 0
    imported: int = 0
    new: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)
    duplicates: list[RowError] = field(default_factory=list)


def _values(record: CreditRecord, now: Any) -> dict[str, Any]:
    return {
        "uscc": record.uscc,
        "list": record.list.value,
        "listed_on": record.listed_on,
        "name": record.name,
        "name_key": folded_name(record.name),
        "reason": record.reason,
        "authority": record.authority,
        "removed_on": record.removed_on,
        "is_sample": record.is_sample,
        "updated_at": now,
    }


async def upsert(engine: AsyncEngine, records: Iterable[CreditRecord]) -> int:
    """Insert or update one batch in one transaction; returns rows written."""
    now = utcnow()
    rows = [_values(r, now) for r in records]
    if not rows:
        return 0
    stmt = insert_for(engine.dialect.name, CreditEntry)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(_KEY), set_={c: stmt.excluded[c] for c in _UPDATABLE}
    )
    async with engine.begin() as conn:
        await conn.execute(stmt, rows)
    return len(rows)


async def count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(CreditEntry)) or 0)


async def import_records(
    engine: AsyncEngine,
    rows: Iterator[tuple[int, CreditRecord | RowError]],
    *,
    batch_size: int = BATCH,
) -> ImportReport:
    """Write validated rows; the same listing twice in one file: the last row wins."""
    report = ImportReport()
    before = await count(engine)
    first_line: dict[tuple[str, str, Any], int] = {}
    batch: dict[tuple[str, str, Any], CreditRecord] = {}
    for line, item in rows:
        report.rows += 1
        if isinstance(item, RowError):
            report.errors.append(item)
            continue
        key = (item.uscc, item.list.value, item.listed_on)
        seen = first_line.setdefault(key, line)
        if seen != line:
            report.duplicates.append(
                RowError(
                    line,
                    f"{item.uscc} {item.list.zh} already on line {seen}; this later row is used",
                )
            )
        batch[key] = item
        if len(batch) >= batch_size:
            await upsert(engine, batch.values())
            batch = {}
    await upsert(engine, batch.values())
    report.imported = len(first_line)
    report.new = await count(engine) - before
    report.updated = report.imported - report.new
    return report


async def import_file(
    engine: AsyncEngine,
    path: Path,
    *,
    default_list: CreditList | None = None,
    sample: bool = False,
    progress: Progress | None = None,
    batch_size: int = BATCH,
) -> ImportReport:
    """Validate and upsert a CSV/XLSX export; raises reader.ImportFailure for a bad file."""
    rows = read_file(path, default_list=default_list, sample=sample, progress=progress)
    return await import_records(engine, rows, batch_size=batch_size)
