"""``weiquan db``: schema migrations."""

from __future__ import annotations

import typer
from rich.console import Console

from bot.db.migrate import upgrade
from bot.settings import Settings

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade_cmd(revision: str = typer.Argument("head", help="Target revision")) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    settings = Settings()
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url, revision)
    Console(stderr=True).print(f"[green]database at {revision}[/green]")
