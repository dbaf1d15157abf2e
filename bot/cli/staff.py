"""``weiquan staff``: create staff accounts (the first admin is made here, never by default)."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

import typer

from bot.db.engine import engine_from_settings, make_sessionmaker
from bot.settings import Settings
from bot.staff.accounts import AccountError, add_staff
from bot.staff.passwords import WeakPassword

app = typer.Typer(help="Staff accounts (agent, supervisor, admin).", no_args_is_help=True)


@app.callback()
def staff() -> None:
    """Staff accounts (agent, supervisor, admin)."""


def _read_password() -> str:
    """From stdin when piped (scripts), else an interactive prompt asked twice."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@app.command("add")
def add_cmd(
    username: str = typer.Argument(..., help="login name: lower-case letters, digits, . _ -"),
    role: str = typer.Option(..., "--role", help="agent, supervisor or admin"),
) -> None:
    """Create a staff member; the password is read from stdin or a prompt, never an argument."""
    password = _read_password()

    async def run() -> None:
        engine = engine_from_settings(Settings())
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                await add_staff(
                    session, username=username, password=password, role=role, now=datetime.now(UTC)
                )
        finally:
            await engine.dispose()

    try:
        asyncio.run(run())
    except (AccountError, WeakPassword) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(f"created {role} {username}")
