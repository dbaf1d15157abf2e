"""Idempotent bulk upsert of certificates into the embedded registry (``integrations.bulk``:
batches, INSERT … ON CONFLICT DO UPDATE on SQLite and PostgreSQL, the number as key)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from dialogues.knowledge_port import Certificate
from integrations import bulk
from integrations.ccc.models import CccCertificate
from integrations.ccc.reader import COLUMNS, read_file
from integrations.tabular import Progress, RowError

BATCH = bulk.BATCH
ImportReport = bulk.ImportReport


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


CERTIFICATES: bulk.Table[Certificate] = bulk.Table(
    CccCertificate,
    key=("cert_no",),
    # Everything but the key is replaced on re-import; the row remembers whether it is sample.
    updatable=(*COLUMNS[1:], "is_sample", "updated_at"),
    values=_values,
    identity=lambda cert: int(cert.cert_no),
    name=lambda cert: f"cert_no {cert.cert_no}",
)


async def upsert(engine: AsyncEngine, certificates: Iterable[Certificate]) -> int:
    """Insert or update one batch in one transaction; returns rows written."""
    return await bulk.upsert(engine, CERTIFICATES, certificates)


async def count(engine: AsyncEngine) -> int:
    return await bulk.count(engine, CERTIFICATES)


async def import_certificates(
    engine: AsyncEngine,
    rows: Iterator[tuple[int, Certificate | RowError]],
    *,
    batch_size: int = BATCH,
) -> ImportReport:
    """Write validated rows; duplicates of a number inside the file: the last row wins."""
    return await bulk.import_rows(engine, CERTIFICATES, rows, batch_size=batch_size)


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
