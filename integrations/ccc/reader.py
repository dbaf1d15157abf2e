"""Reading registry exports (CSV in UTF-8 or GBK, or XLSX) into validated rows.

Exports from Chinese systems are often GBK: the encoding is detected, not assumed. Every
row is validated and a bad row is reported with its line number without stopping the
import, so nothing is silently dropped.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from dialogues.knowledge_port import Certificate, CertStatus
from integrations.ccc.numbers import Codes, load_codes, validate

COLUMNS = (
    "cert_no",
    "holder",
    "manufacturer",
    "product",
    "model",
    "category_code",
    "status",
    "issued_on",
    "expires_on",
)
MAX_TEXT = 200
# A certificate lists every model it covers (the model range): often dozens.
MAX_MODELS = 2000
_SNIFF_BYTES = 64 * 1024


class ImportFailure(Exception):
    """The whole file cannot be imported (empty, unreadable, missing columns)."""


@dataclass(frozen=True)
class RowError:
    """One row that was not imported, with the line a spreadsheet user can find."""

    line: int
    message: str


Progress = Callable[[int], None]  # called with the units done so far (bytes or rows)


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
    if len(sample) >= _SNIFF_BYTES:
        sample = sample[:-4]  # a full sample may end inside a character: drop that tail
    for encoding in ("utf-8", "gb18030"):
        if _undecodable(sample, encoding) <= high // 50:
            return "utf-8-sig" if encoding == "utf-8" else encoding
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    if best is None:
        raise ImportFailure("cannot tell the file's text encoding; save it as UTF-8 and retry")
    return best.encoding


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def _header(cells: list[Any]) -> dict[str, int]:
    names = [_text(c).lstrip("\ufeff").strip().lower() for c in cells]
    if not any(names):
        raise ImportFailure("the first line is empty: expected the header " + ",".join(COLUMNS))
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise ImportFailure(
            "header is missing column(s) " + ", ".join(missing) + "; expected " + ",".join(COLUMNS)
        )
    return {name: names.index(name) for name in COLUMNS}


def _day(value: str, column: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise ValueError(f"{column} {value!r} is not a date (YYYY-MM-DD)") from None


def parse_row(
    cells: list[Any], columns: dict[str, int], *, current_year: int, codes: Codes, sample: bool
) -> Certificate:
    """One row to a Certificate; raises ValueError with a message naming the bad field."""
    values = {name: _text(cells[i]) if i < len(cells) else "" for name, i in columns.items()}
    if any("\udc80" <= ch <= "\udcff" for v in values.values() for ch in v):
        raise ValueError("contains bytes that are not valid text in the file's encoding")
    number = validate(values["cert_no"], current_year=current_year, codes=codes)
    errors = [p for p in number.problems if p.severity == "error"]
    if errors:
        p = errors[0]
        detail = ", ".join(f"{k}={v}" for k, v in p.params.items())
        raise ValueError(
            f"cert_no {values['cert_no']!r} is invalid ({p.code}{': ' + detail if detail else ''})"
        )
    category = values["category_code"] or number.category_code
    if category is not None and not (len(category) == 4 and category.isdigit()):
        raise ValueError(f"category_code {category!r} must be 4 digits")
    if category and number.category_code and category != number.category_code:
        raise ValueError(
            f"category_code {category} differs from the number's own code {number.category_code}"
        )
    try:
        status = CertStatus.parse(values["status"])
    except ValueError:
        raise ValueError(
            f"status {values['status']!r} is not one of 有效/暂停/撤销/注销/过期 or "
            "valid/suspended/revoked/cancelled/expired"
        ) from None
    issued, expires = (
        _day(values["issued_on"], "issued_on"),
        _day(values["expires_on"], "expires_on"),
    )
    if issued and expires and expires < issued:
        raise ValueError(f"expires_on {expires} is before issued_on {issued}")
    for name in ("holder", "manufacturer", "product", "model"):
        limit = MAX_MODELS if name == "model" else MAX_TEXT
        if len(values[name]) > limit:
            raise ValueError(f"{name} is longer than {limit} characters")
    return Certificate(
        cert_no=number.normalized,
        holder=values["holder"],
        manufacturer=values["manufacturer"],
        product=values["product"],
        model=values["model"],
        category_code=category or None,
        status=status,
        issued_on=issued,
        expires_on=expires,
        is_sample=sample,
    )


Row = tuple[int, Certificate | RowError]


def _rows(
    lines: Iterator[tuple[int, list[Any]]], *, current_year: int, sample: bool
) -> Iterator[Row]:
    codes = load_codes()
    first = next(lines, None)
    if first is None:
        raise ImportFailure("the file is empty: expected the header " + ",".join(COLUMNS))
    columns = _header(first[1])
    for line, cells in lines:
        if not any(_text(c) for c in cells):
            continue  # blank lines are not rows
        try:
            yield (
                line,
                parse_row(cells, columns, current_year=current_year, codes=codes, sample=sample),
            )
        except ValueError as exc:
            yield line, RowError(line, str(exc))


def read_csv(
    path: Path, *, current_year: int, sample: bool = False, progress: Progress | None = None
) -> Iterator[Row]:
    """Rows of a CSV export; ``progress`` gets bytes read."""
    with path.open("rb") as raw:
        encoding = detect_encoding(raw.read(_SNIFF_BYTES))
        raw.seek(0)
        text = io.TextIOWrapper(raw, encoding=encoding, errors="surrogateescape", newline="")
        reader = csv.reader(text)

        def lines() -> Iterator[tuple[int, list[Any]]]:
            for n, cells in enumerate(reader):
                if progress is not None and n % 5000 == 0:
                    progress(raw.tell())
                yield reader.line_num, cells

        try:
            yield from _rows(lines(), current_year=current_year, sample=sample)
        except csv.Error as exc:
            raise ImportFailure(f"line {reader.line_num}: unreadable CSV ({exc})") from exc
        if progress is not None:
            progress(raw.tell())


def read_xlsx(
    path: Path, *, current_year: int, sample: bool = False, progress: Progress | None = None
) -> Iterator[Row]:
    """Rows of the first sheet of an XLSX export; ``progress`` gets rows read."""
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a broken file
        raise ImportFailure(f"not a readable XLSX file: {exc}") from exc
    try:
        sheet = book.worksheets[0]

        def lines() -> Iterator[tuple[int, list[Any]]]:
            for n, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
                if progress is not None and n % 5000 == 0:
                    progress(n)
                yield n, list(cells)

        yield from _rows(lines(), current_year=current_year, sample=sample)
    finally:
        book.close()


def read_file(
    path: Path, *, current_year: int, sample: bool = False, progress: Progress | None = None
) -> Iterator[Row]:
    """CSV or XLSX by extension (XLSX also by its ZIP signature)."""
    with path.open("rb") as fh:
        is_zip = fh.read(4) == b"PK\x03\x04"
    if path.suffix.lower() in (".xlsx", ".xlsm") or is_zip:
        return read_xlsx(path, current_year=current_year, sample=sample, progress=progress)
    return read_csv(path, current_year=current_year, sample=sample, progress=progress)
