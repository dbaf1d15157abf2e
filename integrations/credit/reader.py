"""Reading exports of the 经营异常名录 and 严重违法失信名单 (CSV in UTF-8 or GBK, or XLSX).

The file is opened and decoded by ``integrations.tabular``, as certificate exports are. Official
exports carry Chinese headers, so each column has its Chinese names too. A file of one list
without a list column takes the list from ``default_list``. Every bad row is reported with its
line number and the good rows are kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from bot.reports import name_key
from dialogues.credit_port import CreditList, CreditRecord
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
from nlu import uscc as codes

COLUMNS = ("name", "uscc", "list", "reason", "listed_on", "authority", "removed_on")
REQUIRED = ("name", "uscc", "listed_on")
ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("企业名称", "名称", "市场主体名称", "企业（机构）名称"),
    "uscc": ("统一社会信用代码", "信用代码", "统一代码"),
    "list": ("名录", "名单", "名录类型", "列入名录"),
    "reason": ("列入原因", "列入事由", "列入经营异常名录原因", "列入严重违法失信名单原因"),
    "listed_on": ("列入日期", "列入时间", "作出决定日期"),
    "authority": ("作出决定机关", "决定机关", "列入决定机关", "作出列入决定机关"),
    "removed_on": ("移出日期", "移出时间"),
}
MAX_TEXT = {"name": 200, "reason": 500, "authority": 200}
_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")


def _header(cells: list[Any], default_list: CreditList | None) -> dict[str, int]:
    names = header_names(cells)
    if not any(names):
        raise ImportFailure(
            "the first line is empty: expected a header such as " + ",".join(COLUMNS)
        )
    found: dict[str, int] = {}
    for column in COLUMNS:
        for alias in (column, *ALIASES[column]):
            if alias in names:
                found[column] = names.index(alias)
                break
    needed = [*REQUIRED, *([] if default_list else ["list"])]
    missing = [c for c in needed if c not in found]
    if missing:
        hint = " (or give the list with --list)" if "list" in missing else ""
        raise ImportFailure(
            "header is missing column(s) "
            + ", ".join(missing)
            + hint
            + "; expected "
            + ",".join(COLUMNS)
        )
    return found


def parse_day(value: str, column: str) -> date | None:
    """2024-03-01, 2024/3/1, 2024.3.1, 2024年3月1日 or 20240301."""
    if not value:
        return None
    match = _DATE.match(value) or _COMPACT_DATE.match(value)
    try:
        if match is None:
            raise ValueError
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        raise ValueError(f"{column} {value!r} is not a date (YYYY-MM-DD)") from None


def parse_row(
    cells: list[Any], columns: dict[str, int], *, default_list: CreditList | None, sample: bool
) -> CreditRecord:
    """One row to a record; raises ValueError with a message naming the bad field."""
    values = {c: cell_text(cells[i]) if i < len(cells) else "" for c, i in columns.items()}
    if undecodable(values):
        raise ValueError("contains bytes that are not valid text in the file's encoding")
    if not values["name"]:
        raise ValueError("name is empty")
    check = codes.validate(values["uscc"])
    if not check.ok:
        raise ValueError(f"uscc {values['uscc']!r} is not a valid credit code ({check.problem})")
    raw_list = values.get("list", "")
    try:
        kind = CreditList.parse(raw_list) if raw_list else default_list
    except ValueError:
        raise ValueError(
            f"list {raw_list!r} is not 经营异常名录/严重违法失信名单 or abnormal/serious"
        ) from None
    if kind is None:
        raise ValueError("list is empty")
    listed = parse_day(values["listed_on"], "listed_on")
    if listed is None:
        raise ValueError("listed_on is empty")
    removed = parse_day(values.get("removed_on", ""), "removed_on")
    if removed and removed < listed:
        raise ValueError(f"removed_on {removed} is before listed_on {listed}")
    for column, limit in MAX_TEXT.items():
        if len(values.get(column, "")) > limit:
            raise ValueError(f"{column} is longer than {limit} characters")
    return CreditRecord(
        uscc=check.normalized,
        name=values["name"],
        list=kind,
        reason=values.get("reason", ""),
        listed_on=listed,
        authority=values.get("authority", ""),
        removed_on=removed,
        is_sample=sample,
    )


Row = tuple[int, CreditRecord | RowError]


def _rows(lines: Iterator[Line], *, default_list: CreditList | None, sample: bool) -> Iterator[Row]:
    first = next(lines, None)
    if first is None:
        raise ImportFailure("the file is empty: expected a header such as " + ",".join(COLUMNS))
    columns = _header(first[1], default_list)
    for line, cells in data_lines(lines):
        try:
            yield line, parse_row(cells, columns, default_list=default_list, sample=sample)
        except ValueError as exc:
            yield line, RowError(line, str(exc))


def read_file(
    path: Path,
    *,
    default_list: CreditList | None = None,
    sample: bool = False,
    progress: Progress | None = None,
) -> Iterator[Row]:
    """Validated rows of a CSV or XLSX export."""
    return read_table(
        path,
        lambda lines: _rows(lines, default_list=default_list, sample=sample),
        progress=progress,
    )


SAMPLE_MARK = "示例数据 SAMPLE"


def folded_name(name: str) -> str:
    """The name as looked up: folded, without the SAMPLE mark invented rows carry."""
    return name_key(name.replace(f"（{SAMPLE_MARK}）", "")) or ""
