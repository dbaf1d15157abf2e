"""``weiquan cases export``: cases with filters as CSV, XLSX or JSON, without personal data.

Personal data stays out of exports on purpose: a file leaves the audit log's reach (each
export still leaves an audit row: who, which filters, how many cases).
Text that a spreadsheet would run as a formula (a merchant named ``=HYPERLINK(...)``) is
written with a leading ``'`` so it stays text.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sys
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.db.engine import engine_from_settings, make_sessionmaker
from bot.deadlines import local_date
from bot.settings import Settings
from bot.staff import audit, labels, views

app = typer.Typer(help="Export cases.", no_args_is_help=True)
COLUMNS = [
    "case_no",
    "kind",
    "status",
    "channel",
    "submitted_at",
    "next_deadline",
    "overdue",
    "platform",
    "merchant",
    "category",
    "fields",
]


# What Excel, LibreOffice and Sheets treat as the start of a formula (OWASP CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class Format(StrEnum):
    csv = "csv"
    xlsx = "xlsx"
    json = "json"


async def rows(
    settings: Settings, *, actor: str, fmt: str = "", **filters: Any
) -> list[dict[str, Any]]:
    """The matching cases; the export itself (who, how many, which filters) is audited."""
    engine = engine_from_settings(settings)
    today = local_date(datetime.now(UTC))
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            stmt = views.filtered(today=today, **filters)
            cases = (await session.execute(stmt)).scalars()
            data = [{**views.summary(c, today), "fields": c.fields} for c in cases]
            if fmt in ("csv", "xlsx"):  # spreadsheets are read by people: labels, not keys
                data = [shown(row) for row in data]
            audit.record(
                session,
                actor=actor,
                action="cli_cases_export",
                target="cases",
                detail={
                    "format": fmt,
                    "count": len(data),
                    "filters": {k: str(v) for k, v in filters.items() if v is not None},
                },
            )
            return data
    finally:
        await engine.dispose()


def shown(row: dict[str, Any]) -> dict[str, Any]:
    """A case as a spreadsheet shows it: kind, status, channel, category and every choice
    by its label; the facts keyed by their question's label."""
    kind = row["kind"]
    return {
        **row,
        "kind": labels.kind(kind),
        "status": labels.status(row["status"]),
        "channel": labels.channel(row["channel"]),
        "merchant": row.get("target") or "",
        "category": row.get("category_label") or "",
        "fields": {
            labels.field_name(kind, slot): labels.field_value(kind, slot, value)
            for slot, value in row["fields"].items()
        },
    }


def neutralised(value: Any) -> Any:
    """A text cell that would start a formula gets a leading ``'``; other values pass."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def render(data: list[dict[str, Any]], fmt: Format) -> bytes:
    if fmt is Format.json:
        return json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
    table = [
        [
            neutralised(json.dumps(r[c], ensure_ascii=False) if c == "fields" else r[c])
            for c in COLUMNS
        ]
        for r in data
    ]
    if fmt is Format.csv:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        writer.writerows(table)
        # A BOM so Excel opens the Chinese text correctly.
        return ("\ufeff" + out.getvalue()).encode("utf-8")
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None  # noqa: S101 - a new workbook always has one sheet
    sheet.title = "cases"
    sheet.append(COLUMNS)
    for row, line in enumerate(table, start=2):
        for column, value in enumerate(line, start=1):
            cell = sheet.cell(row=row, column=column, value="" if value is None else value)
            if isinstance(value, str):
                # openpyxl reads a leading "=" as a formula; text stays text whatever it holds.
                cell.data_type = "s"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def export_cmd(
    fmt: Annotated[Format, typer.Option("--format", help="csv, xlsx or json")] = Format.csv,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="file to write (stdout if omitted)")
    ] = None,
    kind: Annotated[str | None, typer.Option(help="complaint or report")] = None,
    status: Annotated[str | None, typer.Option(help="e.g. accepted")] = None,
    platform: Annotated[str | None, typer.Option(help="e.g. 拼多多")] = None,
    overdue: Annotated[
        bool | None, typer.Option("--overdue/--not-overdue", help="only (not) overdue")
    ] = None,
    date_from: Annotated[
        datetime | None, typer.Option("--from", formats=["%Y-%m-%d"], help="submitted on or after")
    ] = None,
    date_to: Annotated[
        datetime | None, typer.Option("--to", formats=["%Y-%m-%d"], help="submitted on or before")
    ] = None,
    as_name: Annotated[
        str | None, typer.Option("--as", help="who exports, for the audit log (default: OS user)")
    ] = None,
) -> None:
    """Export cases matching the filters (no personal data)."""
    if kind not in (None, "complaint", "report"):
        raise typer.BadParameter("kind must be complaint or report", param_hint="--kind")
    if fmt is Format.xlsx and output is None:
        raise typer.BadParameter("xlsx is binary: give --output FILE", param_hint="--output")
    start: date | None = date_from.date() if date_from else None
    end: date | None = date_to.date() if date_to else None
    data = asyncio.run(
        rows(
            Settings(),
            actor=audit.os_actor(as_name),
            fmt=fmt.value,
            kind=kind,
            status=status,
            platform=platform,
            overdue=overdue,
            date_from=start,
            date_to=end,
        )
    )
    blob = render(data, fmt)
    if output is None:
        sys.stdout.buffer.write(blob)
        sys.stdout.buffer.flush()
    else:
        output.write_bytes(blob)
        typer.echo(f"{len(data)} case(s) → {output}", err=True)


@app.callback()
def cases() -> None:
    """Cases (the lead mounts ``export_cmd`` on ``weiquan cases``)."""


app.command("export")(export_cmd)
