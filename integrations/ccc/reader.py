"""Reading certificate registry exports (CSV in UTF-8 or GBK, or XLSX) into validated rows.

The file is opened and decoded by ``integrations.tabular``. Every row is validated and a bad
row is reported with its line number without stopping the import, so nothing is silently
dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from dialogues.knowledge_port import Certificate, CertStatus
from integrations.ccc.numbers import Codes, load_codes, validate
from integrations.tabular import (
    ImportFailure,
    Line,
    Progress,
    RowError,
    cell_text,
    data_lines,
    header_names,
    read_table,
    undecodable,
)

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


def _header(cells: list[Any]) -> dict[str, int]:
    names = header_names(cells)
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
    values = {name: cell_text(cells[i]) if i < len(cells) else "" for name, i in columns.items()}
    if undecodable(values):
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


def _rows(lines: Iterator[Line], *, current_year: int, sample: bool) -> Iterator[Row]:
    codes = load_codes()
    first = next(lines, None)
    if first is None:
        raise ImportFailure("the file is empty: expected the header " + ",".join(COLUMNS))
    columns = _header(first[1])
    for line, cells in data_lines(lines):
        try:
            yield (
                line,
                parse_row(cells, columns, current_year=current_year, codes=codes, sample=sample),
            )
        except ValueError as exc:
            yield line, RowError(line, str(exc))


def read_file(
    path: Path, *, current_year: int, sample: bool = False, progress: Progress | None = None
) -> Iterator[Row]:
    """Validated rows of a CSV or XLSX export."""
    return read_table(
        path,
        lambda lines: _rows(lines, current_year=current_year, sample=sample),
        progress=progress,
    )
