"""``weiquan ccc``: check certificates and listings, import registry exports, load the sample."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import httpx
import typer
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot import ccc_feedback, watchers
from bot.cli import registry_import
from dialogues.answers import certificate_reply, listing_reply
from dialogues.texts import t
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
    # Staff's view: how many consumer cases named this number (the risk feedback).
    reports = _run(lambda engine: _reports(engine, result.number.normalized))
    if as_json:
        data = {**registry_import.jsonable(result), "consumer_reports": reports}
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        typer.echo(certificate_reply(result, lang))
        typer.echo(t(lang, "feedback.staff_reports", count=reports))
    if not result.number.ok:
        raise typer.Exit(2)


async def _reports(engine: AsyncEngine, number: str) -> int:
    if not number:
        return 0
    async with AsyncSession(engine) as session:
        return (await ccc_feedback.counts(session, [number])).get(number, 0)


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
        report = await importer.import_file(
            engine, file, current_year=today_shanghai().year, progress=advance, batch_size=batch
        )
        # Watchers of a certificate whose status the import changed are told (once).
        told = await watchers.tell(engine, now=datetime.now(UTC), on=today_shanghai())
        err.print(f"{told} certificate watchers told of a status change")
        return report

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


class ExportFormat(StrEnum):
    csv = "csv"
    xlsx = "xlsx"


@app.command("risk-export")
def risk_export(
    month: Annotated[str, typer.Option("--month", help="The month reported in, YYYY-MM")],
    fmt: Annotated[ExportFormat, typer.Option("--format", help="csv or xlsx")] = ExportFormat.csv,
    out: Annotated[
        Path | None, typer.Option("--out", help="File to write (default ccc-risk-MONTH.FORMAT)")
    ] = None,
) -> None:
    """The listings and certificate numbers consumers reported in MONTH, for e-commerce
    platforms: platform, link, shop, number, registry status now, reports, first and last
    reported. No consumer's personal data."""
    try:
        ccc_feedback.month_bounds(month)
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc

    async def job(engine: AsyncEngine) -> list[ccc_feedback.ExportRow]:
        async with AsyncSession(engine) as session:
            return await ccc_feedback.month_rows(session, month)

    rows = _run(job)
    data = (
        ccc_feedback.as_xlsx(rows, month) if fmt is ExportFormat.xlsx else ccc_feedback.as_csv(rows)
    )
    target = out or Path(f"ccc-risk-{month}.{fmt.value}")
    target.write_bytes(data)
    err.print(f"{len(rows)} reported listings written to {target}")
