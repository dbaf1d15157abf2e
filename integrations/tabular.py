"""Reading official exports (CSV in UTF-8 or GBK, or XLSX) line by line, for every registry.

Exports from Chinese systems are often GBK: the encoding is detected, not assumed. A registry
supplies how its lines become validated rows (``integrations.ccc.reader``,
``integrations.credit.reader``); this module only opens the file, decodes it, numbers the
lines a spreadsheet user can find and reports progress.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

SNIFF_BYTES = 64 * 1024
_PROGRESS_EVERY = 5000

Line = tuple[int, list[Any]]  # (line number, cells)
Progress = Callable[[int], None]  # called with the units done so far (bytes or rows)
T = TypeVar("T")


class ImportFailure(Exception):
    """The whole file cannot be imported (empty, unreadable, missing columns)."""


@dataclass(frozen=True)
class RowError:
    """One row that was not imported, with the line a spreadsheet user can find."""

    line: int
    message: str


def _undecodable(sample: bytes, encoding: str) -> int:
    text = sample.decode(encoding, errors="surrogateescape")
    return sum(1 for ch in text if "\udc80" <= ch <= "\udcff")


def detect_encoding(sample: bytes) -> str:
    """UTF-8 (with or without BOM), else GB18030 (a superset of GBK), else a guess.

    A few broken bytes must not flip a UTF-8 file to GBK (which would garble every row), so
    UTF-8 wins while nearly all of its non-ASCII bytes decode; the broken rows are then
    reported one by one.
    """
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    high = sum(1 for b in sample if b >= 0x80)
    if high == 0:
        return "utf-8-sig"
    if len(sample) >= SNIFF_BYTES:
        sample = sample[:-4]  # a full sample may end inside a character: drop that tail
    for encoding in ("utf-8", "gb18030"):
        if _undecodable(sample, encoding) <= high // 50:
            return "utf-8-sig" if encoding == "utf-8" else encoding
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    if best is None:
        raise ImportFailure("cannot tell the file's text encoding; save it as UTF-8 and retry")
    return best.encoding


def cell_text(value: Any) -> str:
    """A cell as text: whole numbers without ".0", dates as ISO dates, stripped."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def undecodable(values: dict[str, str]) -> bool:
    """Whether a row holds bytes that were not text in the file's encoding."""
    return any("\udc80" <= ch <= "\udcff" for v in values.values() for ch in v)


def header_names(cells: list[Any]) -> list[str]:
    return [cell_text(c).lstrip("\ufeff").strip().lower() for c in cells]


def data_lines(lines: Iterator[Line]) -> Iterator[Line]:
    """The lines after the header, without blank ones (blank lines are not rows)."""
    return (line for line in lines if any(cell_text(c) for c in line[1]))


def _read_csv(
    path: Path, rows: Callable[[Iterator[Line]], Iterator[T]], progress: Progress | None
) -> Iterator[T]:
    with path.open("rb") as raw:
        encoding = detect_encoding(raw.read(SNIFF_BYTES))
        raw.seek(0)
        text = io.TextIOWrapper(raw, encoding=encoding, errors="surrogateescape", newline="")
        reader = csv.reader(text)

        def lines() -> Iterator[Line]:
            for n, cells in enumerate(reader):
                if progress is not None and n % _PROGRESS_EVERY == 0:
                    progress(raw.tell())
                yield reader.line_num, cells

        try:
            yield from rows(lines())
        except csv.Error as exc:
            raise ImportFailure(f"line {reader.line_num}: unreadable CSV ({exc})") from exc
        if progress is not None:
            progress(raw.tell())


def _read_xlsx(
    path: Path, rows: Callable[[Iterator[Line]], Iterator[T]], progress: Progress | None
) -> Iterator[T]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a broken file
        raise ImportFailure(f"not a readable XLSX file: {exc}") from exc
    try:
        sheet = book.worksheets[0]

        def lines() -> Iterator[Line]:
            for n, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
                if progress is not None and n % _PROGRESS_EVERY == 0:
                    progress(n)
                yield n, list(cells)

        yield from rows(lines())
    finally:
        book.close()


def read_table(
    path: Path,
    rows: Callable[[Iterator[Line]], Iterator[T]],
    *,
    progress: Progress | None = None,
) -> Iterator[T]:
    """``rows`` applied to the numbered lines of a CSV or XLSX file (XLSX by extension or by
    its ZIP signature). ``progress`` gets bytes read for CSV, rows read for XLSX."""
    with path.open("rb") as fh:
        is_zip = fh.read(4) == b"PK\x03\x04"
    if path.suffix.lower() in (".xlsx", ".xlsm") or is_zip:
        return _read_xlsx(path, rows, progress)
    return _read_csv(path, rows, progress)
