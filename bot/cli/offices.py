"""``weiquan offices``: import a regulator office directory from CSV, show where a place goes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.console import Console

from bot.business import offices
from bot.business.region import shared
from bot.settings import Settings

app = typer.Typer(
    help="Regulator offices: import the directory, route a place.", no_args_is_help=True
)
err = Console(stderr=True)


@app.command("import")
def import_cmd(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, help="CSV: key,name,regions,phone,handoff_url (UTF-8/GBK)"
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="The directory file to write (YAML)")],
) -> None:
    """Validate a CSV of offices and write the directory; set WEIQUAN_OFFICES_FILE to it.

    ``regions`` are administrative code prefixes separated by spaces: 440305 (a county),
    4403 (a city), 44 (a province). The jurisdiction rules and their sources come from the
    bundled directory. Bad rows are listed with line numbers and nothing is written.
    """
    try:
        data, errors = offices.from_csv(file.read_bytes(), jurisdiction=offices.load().jurisdiction)
    except offices.DirectoryError as exc:
        err.print(f"[red]{file}: {exc}[/red]", markup=False)
        raise typer.Exit(1) from exc
    for message in errors:
        err.print(f"  {message}", markup=False, highlight=False)
    if errors:
        err.print(f"[red]{len(errors)} rows not taken; nothing written[/red]")
        raise typer.Exit(2)
    out.write_text(
        "# Office directory imported by `weiquan offices import`.\n"
        + yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
        encoding="utf-8",
    )
    err.print(f"[green]{len(data['offices'])} offices written to {out}[/green]")


@app.command("route")
def route(
    address: Annotated[str, typer.Argument(help="An address, or a 6-digit administrative code")],
    directory: Annotated[
        Path | None, typer.Option("--directory", envvar="WEIQUAN_OFFICES_FILE")
    ] = None,
) -> None:
    """The region an address names and the office that handles it."""
    regions = shared()
    found = (
        regions.from_code(address, source="staff")
        if address.isdigit()
        else regions.from_address(address, source="merchant_address")
    )
    if found is None:
        typer.echo("region undetermined: staff set it (nothing is guessed)")
        raise typer.Exit(1)
    office = offices.load(directory or offices.SAMPLE).route(found.code)
    typer.echo(f"{found.code} {found.label}")
    typer.echo(f"office: {office.key} {office.name} {office.phone}" if office else "office: none")


@app.command("secret")
def secret(
    office: Annotated[str, typer.Argument(help="The office's key in the directory")],
    directory: Annotated[
        Path | None, typer.Option("--directory", envvar="WEIQUAN_OFFICES_FILE")
    ] = None,
) -> None:
    """The secret that office's forwarded-case packages are signed with: give it to that
    office alone, to check the X-Weiquan-Signature of what it receives (docs/backoffice.md).

    Derived from WEIQUAN_BACKOFFICE_SECRET (WEIQUAN_SECRET_KEY when that is unset), so one
    office's secret signs nothing for another office or for the back office. Changing that
    secret changes every office's.
    """
    found = offices.load(directory or offices.SAMPLE).get(office)
    if found is None:
        err.print(f"[red]no office {office!r} in the directory[/red]", highlight=False)
        raise typer.Exit(1)
    if not found.handoff_url:
        err.print(
            f"{found.key} has no handoff_url: it receives no packages until the directory "
            "gives it one",
            markup=False,
        )
    typer.echo(Settings().office_handoff_secret(found.key))
