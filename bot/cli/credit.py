"""``weiquan credit``: import the 经营异常名录 / 严重违法失信名单, load the SAMPLE, look a business up."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cli.ccc import MAX_SHOWN_ERRORS, _jsonable
from bot.db.engine import engine_from_settings
from bot.settings import Settings
from dialogues.credit import credit_reply
from dialogues.credit_port import CreditList
from integrations.credit import importer, sample
from integrations.credit.http_registry import HttpCreditRegistry
from integrations.credit.registry import EmbeddedCreditRegistry
from integrations.credit.service import CreditService
from integrations.tabular import ImportFailure

app = typer.Typer(
    help="Credit lists of businesses: import, sample data, look-up.", no_args_is_help=True
)
err = Console(stderr=True)
T = TypeVar("T")
SERVICE_URL_ENV = "WEIQUAN_CREDIT_SERVICE_URL"


def _run(make: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    async def main() -> T:
        engine = engine_from_settings(Settings())
        try:
            return await make(engine)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except (OperationalError, ProgrammingError) as exc:
        if "credit_entries" in str(exc):
            err.print("[red]the credit table does not exist: run `weiquan db upgrade` first[/red]")
            raise typer.Exit(1) from exc
        raise


@app.command("import")
def import_cmd(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="CSV (UTF-8 or GBK) or XLSX")
    ],
    list_: Annotated[
        str | None,
        typer.Option(
            "--list",
            help="abnormal (经营异常名录) or serious (严重违法失信名单), for "
            "files without a list column",
        ),
    ] = None,
    errors_file: Annotated[
        Path | None, typer.Option("--errors", help="Write every rejected row here")
    ] = None,
    batch: Annotated[int, typer.Option(help="Rows per transaction")] = importer.BATCH,
) -> None:
    """Validate and upsert an export of the lists; bad rows are listed with line numbers.

    Re-importing the same file changes nothing; a later export of a listing (now removed)
    updates it.
    """
    try:
        default = CreditList.parse(list_) if list_ else None
    except ValueError:
        err.print(f"[red]--list {list_!r}: use abnormal or serious[/red]")
        raise typer.Exit(2) from None
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

        async def job(engine: AsyncEngine) -> importer.ImportReport:
            return await importer.import_file(
                engine, file, default_list=default, progress=advance, batch_size=batch
            )

        try:
            report = _run(job)
        except ImportFailure as exc:
            err.print(f"[red]{file}: {exc}[/red]")
            raise typer.Exit(1) from exc
    err.print(
        f"[green]{report.imported} listings written[/green] "
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


@app.command("seed")
def seed(
    csv_out: Annotated[
        Path | None, typer.Option("--csv", help="Also write them to this CSV")
    ] = None,
) -> None:
    """Load the SAMPLE lists (invented businesses, marked as such in every answer)."""
    records = list(sample.generate())

    async def job(engine: AsyncEngine) -> int:
        return await importer.upsert(engine, records)

    written = _run(job)
    if csv_out is not None:
        sample.write_csv(csv_out, records)
    err.print(f"[green]{written} SAMPLE listings loaded[/green] (not real data)")


@app.command("check")
def check(
    query: Annotated[str, typer.Argument(help="A unified social credit code or company name")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
    lang: Annotated[str, typer.Option("--lang", help="zh or en")] = "zh",
    service_url: Annotated[
        str | None, typer.Option(envvar=SERVICE_URL_ENV, help="HTTP credit service")
    ] = None,
) -> None:
    """What the lists say about a business, dated, with the source."""

    async def job(engine: AsyncEngine) -> Any:
        if service_url:
            async with httpx.AsyncClient() as client:
                return await CreditService(HttpCreditRegistry(client, service_url)).check_business(
                    query
                )
        return await CreditService(EmbeddedCreditRegistry(engine)).check_business(query)

    result = _run(job)
    if result is None:
        err.print("[red]no credit code or company name found in the query[/red]")
        raise typer.Exit(2)
    if as_json:
        typer.echo(json.dumps(_jsonable(result), ensure_ascii=False, indent=2))
    else:
        typer.echo(credit_reply(result, lang))
    if result.problem:
        raise typer.Exit(2)
