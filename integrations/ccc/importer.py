"""Idempotent bulk upsert of certificates into the embedded registry.

Rows are written in batches, one transaction each, with INSERT … ON CONFLICT DO UPDATE on
both SQLite and PostgreSQL, so re-running an import changes nothing and an interrupted
import can simply be run again.
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
from dialogues.knowledge_port import Certificate
from integrations.ccc.models import CccCertificate
from integrations.ccc.reader import COLUMNS, read_file
from integrations.tabular import Progress, RowError

BATCH = 10_000
# Everything but the key is replaced on re-import; the row remembers whether it is sample data.
_UPDATABLE = (*COLUMNS[1:], "is_sample", "updated_at")


@dataclass
class ImportReport:
    """What an import did, including every row it did not take and why."""

    rows: int = 0  # data rows read (blank lines excluded)
    imported: int = 0  # rows written (after collapsing duplicates)
    new: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)
    duplicates: list[RowError] = field(default_factory=list)


def _values(cert: Certificate, now: Any) -> dict[str, Any]:
    return {
        "cert_no": cert.cert_no,
        "holder": cert.holder,
        "manufacturer": cert.manufacturer,
        "product": cert.product,
        "model": cert.model,
        "category_code": cert.category_code,
        "status": cert.status.value,
        "issued_on": cert.issued_on,
        "expires_on": cert.expires_on,
        "is_sample": cert.is_sample,
        "updated_at": now,
    }


async def upsert(engine: AsyncEngine, certificates: Iterable[Certificate]) -> int:
    """Insert or update one batch in one transaction; returns rows written."""
    now = utcnow()
    rows = [_values(c, now) for c in certificates]
    if not rows:
        return 0
    stmt = insert_for(engine.dialect.name, CccCertificate)
    stmt = stmt.on_conflict_do_update(
        index_elements=["cert_no"], set_={c: stmt.excluded[c] for c in _UPDATABLE}
    )
    async with engine.begin() as conn:
        await conn.execute(stmt, rows)
    return len(rows)


async def count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(CccCertificate)) or 0)


async def import_certificates(
    engine: AsyncEngine,
    rows: Iterator[tuple[int, Certificate | RowError]],
    *,
    batch_size: int = BATCH,
) -> ImportReport:
    """Write validated rows; duplicates of a number inside the file: the last row wins."""
    report = ImportReport()
    before = await count(engine)
    first_line: dict[int, int] = {}  # cert number -> line it first appeared on
    batch: dict[str, Certificate] = {}
    for line, item in rows:
        report.rows += 1
        if isinstance(item, RowError):
            report.errors.append(item)
            continue
        key = int(item.cert_no)
        seen = first_line.setdefault(key, line)
        if seen != line:
            report.duplicates.append(
                RowError(
                    line, f"cert_no {item.cert_no} already on line {seen}; this later row is used"
                )
            )
        batch[item.cert_no] = item
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
    current_year: int,
    sample: bool = False,
    progress: Progress | None = None,
    batch_size: int = BATCH,
) -> ImportReport:
    """Validate and upsert a CSV/XLSX export; raises reader.ImportFailure for a bad file."""
    rows = read_file(path, current_year=current_year, sample=sample, progress=progress)
    return await import_certificates(engine, rows, batch_size=batch_size)
