"""``weiquan keys``: personal-data keys: print a new one, see what an old key still holds,
and re-encrypt everything under the current key (safe while the service runs)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from bot.crypto import KeyConfigurationError, keyring_from_settings, new_key_text
from bot.db.engine import engine_from_settings
from bot.db.write_gate import WriteGate, lock_path_for
from bot.evidence import EvidenceStore
from bot.keyrotation import Report, rotate
from bot.senders import SenderIds
from bot.settings import Settings

app = typer.Typer(help="Personal-data keys.", no_args_is_help=True)


@app.callback()
def keys() -> None:
    """Personal-data keys."""


@app.command("new")
def new_cmd() -> None:
    """Print a new random key (for WEIQUAN_PII_KEY or a line of WEIQUAN_PII_KEY_FILE)."""
    typer.echo(new_key_text())


def _run(write: bool, batch: int) -> Report:
    try:
        settings = Settings()
        keyring = keyring_from_settings(settings)
        senders = SenderIds.from_settings(settings)
    except (KeyConfigurationError, ValidationError) as exc:
        message = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        Console(stderr=True).print(message, style="red", markup=False)
        raise typer.Exit(2) from None
    console = Console(stderr=True)
    console.print(
        f"current key [bold]{keyring.current_id}[/bold]; "
        f"also readable: {', '.join(keyring.key_ids[1:]) or 'none'}"
    )

    async def run() -> Report:
        engine = engine_from_settings(settings, keyring)
        gate = WriteGate(lock_path_for(settings.resolved_database_url))
        tasks: dict[str, TaskID] = {}
        columns = (TextColumn("{task.description:<20}"), BarColumn(), MofNCompleteColumn())
        try:
            with Progress(*columns, console=console) as bar:

                def totals(sizes: dict[str, int]) -> None:
                    for name, size in sizes.items():
                        tasks[name] = bar.add_task(name, total=size)

                def progress(name: str, done: int) -> None:
                    bar.update(tasks[name], completed=done)

                report = await rotate(
                    engine,
                    EvidenceStore(settings.evidence_dir, keyring),
                    senders=senders,
                    batch=batch,
                    write=write,
                    progress=progress,
                    totals=totals,
                    gate=gate.hold if gate.path is not None else None,
                )
                for name, task in tasks.items():
                    bar.update(task, completed=report.tables[name].rows)
            return report
        finally:
            gate.close()
            await engine.dispose()

    return asyncio.run(run())


def _show(report: Report, *, wrote: bool) -> None:
    table = Table("table", "rows", "re-encrypted" if wrote else "old key or clear")
    for name, count in report.tables.items():
        table.add_row(name, str(count.rows), str(count.rewritten if wrote else count.stale))
    Console().print(table)


@app.command("status")
def status_cmd() -> None:
    """Count values still under an old key (or in clear); exits 1 while any remain."""
    report = _run(write=False, batch=500)
    _show(report, wrote=False)
    if report.stale:
        Console(stderr=True).print(f"{report.stale} values need `weiquan keys rotate`")
        raise typer.Exit(1)
    Console(stderr=True).print("[green]everything is under the current key[/green]")


@app.command("rotate")
def rotate_cmd(
    batch: Annotated[int, typer.Option(min=1, max=5000, help="rows per transaction")] = 200,
) -> None:
    """Re-encrypt every encrypted column and evidence file under the current key, in batches;
    run it again to resume. Then checks that nothing under an old key remains."""
    report = _run(write=True, batch=batch)
    _show(report, wrote=True)
    Console(stderr=True).print("checking that nothing under an old key remains…")
    check = _run(write=False, batch=500)
    if check.stale:
        Console(stderr=True).print(
            f"[yellow]{check.stale} values changed during the run are still under an old key: "
            "run `weiquan keys rotate` again[/yellow]"
        )
        raise typer.Exit(1)
    Console(stderr=True).print(
        "[green]No value under an old key (or in clear) remains: the old keys can be removed "
        "from WEIQUAN_PII_OLD_KEYS / WEIQUAN_PII_KEY_FILE.[/green]"
    )
