"""What the registry commands (``weiquan ccc``, ``weiquan credit``) share: running a job on the
configured database, importing an export with a progress bar and reporting its rows."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Any, Protocol, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.engine import engine_from_settings
from bot.settings import Settings
from integrations.tabular import ImportFailure, RowError

err = Console(stderr=True)
T = TypeVar("T")
MAX_SHOWN_ERRORS = 50


class ImportReport(Protocol):
    rows: int
    imported: int
    new: int
    updated: int
    errors: list[RowError]
    duplicates: list[RowError]


R = TypeVar("R", bound=ImportReport)


def jsonable(value: Any) -> Any:
    """A result dataclass as JSON-ready data, with its computed verdicts."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data = {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        for prop in ("ok", "found", "is_sample", "acceptable", "uses_sample"):
            if hasattr(value, prop):
                data[prop] = getattr(value, prop)
        return data
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def run(make: Callable[[AsyncEngine], Awaitable[T]], *, table: str, what: str) -> T:
    """Run one async job on an engine from settings; a missing ``table`` gets a clear hint."""

    async def main() -> T:
        engine = engine_from_settings(Settings())
        try:
            return await make(engine)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except (OperationalError, ProgrammingError) as exc:
        if table in str(exc):
            err.print(f"[red]the {what} table does not exist: run `weiquan db upgrade` first[/red]")
            raise typer.Exit(1) from exc
        raise


def import_file(
    file: Path,
    job: Callable[[AsyncEngine, Callable[[int], None]], Awaitable[R]],
    *,
    table: str,
    what: str,
    noun: str,
    errors_file: Path | None,
) -> R:
    """Import with a progress bar (bytes for CSV, rows for XLSX), then print what was written
    and every rejected or duplicate row with its line; exits 2 when rows were rejected."""
    is_csv = file.suffix.lower() not in (".xlsx", ".xlsm")
    columns = [
        TextColumn("importing"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("import", total=file.stat().st_size if is_csv else None)

        def advance(done: int) -> None:
            progress.update(task, completed=done)

        try:
            report = run(lambda engine: job(engine, advance), table=table, what=what)
        except ImportFailure as exc:
            err.print(f"[red]{file}: {exc}[/red]")
            raise typer.Exit(1) from exc
    err.print(
        f"[green]{report.imported} {noun} written[/green] "
        f"({report.new} new, {report.updated} updated) from {report.rows} data rows"
    )
    for title, items, colour in (
        ("duplicate rows", report.duplicates, "yellow"),
        ("rows not imported", report.errors, "red"),
    ):
        if not items:
            continue
        err.print(f"[{colour}]{len(items)} {title}:[/{colour}]")
        for item in items[:MAX_SHOWN_ERRORS]:
            err.print(f"  line {item.line}: {item.message}", markup=False, highlight=False)
        if len(items) > MAX_SHOWN_ERRORS:
            err.print(f"  … and {len(items) - MAX_SHOWN_ERRORS} more (see --errors FILE)")
    if errors_file is not None:
        with errors_file.open("w", encoding="utf-8") as fh:
            for item in [*report.errors, *report.duplicates]:
                fh.write(f"{item.line}\t{item.message}\n")
    if report.errors:
        raise typer.Exit(2)
    return report
