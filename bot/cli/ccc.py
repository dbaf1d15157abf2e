"""``weiquan ccc``: check certificates and listings, import registry exports, load the sample."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any, TypeVar

import httpx
import typer
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cli import registry_import
from dialogues.answers import certificate_reply, listing_reply
from integrations.ccc import importer, sample
from integrations.ccc.http_registry import HttpRegistry
from integrations.ccc.registry import CertificateRegistry, EmbeddedRegistry
from integrations.ccc.service import CccService, today_shanghai

app = typer.Typer(help="CCC certificates: check, import, sample data.", no_args_is_help=True)
err = registry_import.err
T = TypeVar("T")
MAX_SHOWN_ERRORS = 50
REGISTRY_URL_ENV = "WEIQUAN_CCC_REGISTRY_URL"


def _run(make: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    return registry_import.run(make, table="ccc_certificates", what="certificate")


@asynccontextmanager
async def _registry(engine: AsyncEngine, url: str | None) -> AsyncIterator[CertificateRegistry]:
    if url:
        async with httpx.AsyncClient() as client:
            yield HttpRegistry(client, url)
    else:
        yield EmbeddedRegistry(engine)


@app.command("check")
def check(
    number: Annotated[
        str, typer.Argument(help="Certificate number (spaces, dashes, full-width ok)")
    ],
    product: Annotated[
        str | None, typer.Option("--product", "-p", help="Product it should cover")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
    lang: Annotated[str, typer.Option("--lang", help="zh or en")] = "zh",
    on: Annotated[
        str | None, typer.Option("--on", help="Judge as of this date (YYYY-MM-DD)")
    ] = None,
    registry_url: Annotated[
        str | None, typer.Option(envvar=REGISTRY_URL_ENV, help="HTTP registry")
    ] = None,
) -> None:
    """Validate NUMBER, look it up and explain what its status means."""

    async def job(engine: AsyncEngine) -> Any:
        async with _registry(engine, registry_url) as registry:
            service = CccService(registry)
            day = date.fromisoformat(on) if on else None
            return await service.check_certificate(number, product=product, on=day)

    result = _run(job)
    if as_json:
        typer.echo(json.dumps(registry_import.jsonable(result), ensure_ascii=False, indent=2))
    else:
        typer.echo(certificate_reply(result, lang))
    if not result.number.ok:
        raise typer.Exit(2)


@app.command("listing")
def listing(
    source: Annotated[Path, typer.Argument(help="File with the listing text, or - for stdin")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
    lang: Annotated[str, typer.Option("--lang", help="zh or en")] = "zh",
    registry_url: Annotated[
        str | None, typer.Option(envvar=REGISTRY_URL_ENV, help="HTTP registry")
    ] = None,
) -> None:
    """Check a pasted product listing: product type, CCC requirement, certificate numbers."""
    text = sys.stdin.read() if str(source) == "-" else source.read_text(encoding="utf-8")

    async def job(engine: AsyncEngine) -> Any:
        async with _registry(engine, registry_url) as registry:
            return await CccService(registry).check_listing(text)

    result = _run(job)
    typer.echo(
        json.dumps(registry_import.jsonable(result), ensure_ascii=False, indent=2)
        if as_json
        else listing_reply(result, lang)
    )


@app.command("import")
def import_cmd(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="CSV (UTF-8 or GBK) or XLSX")
    ],
    errors_file: Annotated[
        Path | None, typer.Option("--errors", help="Write every rejected row here")
    ] = None,
    batch: Annotated[int, typer.Option(help="Rows per transaction")] = importer.BATCH,
) -> None:
    """Validate and upsert a registry export; bad rows are listed with line numbers."""

    async def job(engine: AsyncEngine, advance: Callable[[int], None]) -> importer.ImportReport:
        return await importer.import_file(
            engine, file, current_year=today_shanghai().year, progress=advance, batch_size=batch
        )

    registry_import.import_file(
        file,
        job,
        table="ccc_certificates",
        what="certificate",
        noun="certificates",
        errors_file=errors_file,
    )


@app.command("seed")
def seed(
    count: Annotated[int, typer.Option(help="How many sample certificates")] = 600,
    csv_out: Annotated[
        Path | None, typer.Option("--csv", help="Also write them to this CSV")
    ] = None,
) -> None:
    """Load the SAMPLE registry (invented certificates, marked as such in every answer)."""
    certificates = list(sample.generate(count))

    async def job(engine: AsyncEngine) -> int:
        return await importer.upsert(engine, certificates)

    written = _run(job)
    if csv_out is not None:
        sample.write_csv(csv_out, certificates)
    err.print(f"[green]{written} SAMPLE certificates loaded[/green] (not real data)")
