"""Idempotent bulk upsert of credit listings into the embedded registry.

Written as certificates are (``integrations.bulk``): batches, one transaction each, INSERT …
ON CONFLICT DO UPDATE on SQLite and PostgreSQL. The key is (code, list, day listed), so a
re-import changes nothing and a later export that adds a removal date updates the listing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from dialogues.credit_port import CreditList, CreditRecord
from integrations import bulk
from integrations.credit.models import CreditEntry
from integrations.credit.reader import folded_name, read_file
from integrations.tabular import Progress, RowError

BATCH = bulk.BATCH
ImportReport = bulk.ImportReport


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


LISTINGS: bulk.Table[CreditRecord] = bulk.Table(
    CreditEntry,
    key=("uscc", "list", "listed_on"),
    updatable=("name", "name_key", "reason", "authority", "removed_on", "is_sample", "updated_at"),
    values=_values,
    identity=lambda record: (record.uscc, record.list.value, record.listed_on),
    name=lambda record: f"{record.uscc} {record.list.zh}",
)


async def upsert(engine: AsyncEngine, records: Iterable[CreditRecord]) -> int:
    """Insert or update one batch in one transaction; returns rows written."""
    return await bulk.upsert(engine, LISTINGS, records)


async def count(engine: AsyncEngine) -> int:
    return await bulk.count(engine, LISTINGS)


async def import_records(
    engine: AsyncEngine,
    rows: Iterator[tuple[int, CreditRecord | RowError]],
    *,
    batch_size: int = BATCH,
) -> ImportReport:
    """Write validated rows; the same listing twice in one file: the last row wins."""
    return await bulk.import_rows(engine, LISTINGS, rows, batch_size=batch_size)


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
