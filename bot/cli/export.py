"""``weiquan cases export``: cases with filters as CSV, XLSX or JSON, without personal data.

Personal data stays out of exports on purpose: a file leaves the audit log's reach.
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
from bot.staff import views

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


class Format(StrEnum):
    csv = "csv"
    xlsx = "xlsx"
    json = "json"


async def rows(settings: Settings, **filters: Any) -> list[dict[str, Any]]:
    engine = engine_from_settings(settings)
    today = local_date(datetime.now(UTC))
    try:
        async with make_sessionmaker(engine)() as session:
            stmt = views.filtered(today=today, **filters)
            cases = (await session.execute(stmt)).scalars()
            return [{**views.summary(c, today), "fields": c.fields} for c in cases]
    finally:
        await engine.dispose()


def render(data: list[dict[str, Any]], fmt: Format) -> bytes:
    if fmt is Format.json:
        return json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
    table = [
        [json.dumps(r[c], ensure_ascii=False) if c == "fields" else r[c] for c in COLUMNS]
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
    for line in table:
        sheet.append(["" if v is None else v for v in line])
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
