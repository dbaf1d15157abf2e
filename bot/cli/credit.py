"""``weiquan credit``: import the 经营异常名录 / 严重违法失信名单, load the SAMPLE, look a business up."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import httpx
import typer
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cli import registry_import
from dialogues.credit import credit_reply
from dialogues.credit_port import CreditList
from integrations.credit import importer, sample
from integrations.credit.http_registry import HttpCreditRegistry
from integrations.credit.registry import EmbeddedCreditRegistry
from integrations.credit.service import CreditService

app = typer.Typer(
    help="Credit lists of businesses: import, sample data, look-up.", no_args_is_help=True
)
err = registry_import.err
T = TypeVar("T")
SERVICE_URL_ENV = "WEIQUAN_CREDIT_SERVICE_URL"


def _run(make: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    return registry_import.run(make, table="credit_entries", what="credit")


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

    async def job(engine: AsyncEngine, advance: Callable[[int], None]) -> importer.ImportReport:
        return await importer.import_file(
            engine, file, default_list=default, progress=advance, batch_size=batch
        )

    registry_import.import_file(
        file,
        job,
        table="credit_entries",
        what="credit",
        noun="listings",
        errors_file=errors_file,
    )


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
        typer.echo(json.dumps(registry_import.jsonable(result), ensure_ascii=False, indent=2))
    else:
        typer.echo(credit_reply(result, lang))
    if result.problem:
        raise typer.Exit(2)
