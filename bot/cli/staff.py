"""``weiquan staff``: create staff accounts (the first admin is made here, never by default),
deactivate and reactivate them, change or reset passwords, list and revoke tokens.

The command line has the server's database rights, so it acts as an admin; every change is
audited under the operating-system user (or ``--as NAME``).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from bot.business import offices
from bot.db.engine import engine_from_settings, make_sessionmaker
from bot.settings import Settings
from bot.staff import audit, lifecycle
from bot.staff.accounts import AccountError, Staff, add_staff, list_staff
from bot.staff.passwords import WeakPassword

app = typer.Typer(help="Staff accounts (agent, supervisor, admin).", no_args_is_help=True)
T = TypeVar("T")
AsName = Annotated[
    str | None, typer.Option("--as", help="who runs this, for the audit log (default: OS user)")
]


@app.callback()
def staff() -> None:
    """Staff accounts (agent, supervisor, admin)."""


def _read_password(prompt: str = "Password", *, confirm: bool = True) -> str:
    """From stdin when piped (scripts; one line each), else an interactive hidden prompt."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm))


def _in_transaction(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one committed transaction; account errors exit with status 2."""

    async def run() -> T:
        engine = engine_from_settings(Settings())
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except (AccountError, WeakPassword) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None


def _now() -> datetime:
    return datetime.now(UTC)


@app.command("add")
def add_cmd(
    username: str = typer.Argument(..., help="login name: lower-case letters, digits, . _ -"),
    role: str = typer.Option(..., "--role", help="agent, supervisor or admin"),
    office: str | None = typer.Option(
        None, "--office", help="an agent's office (its key in the office directory)"
    ),
    as_name: AsName = None,
) -> None:
    """Create a staff member; the password is read from stdin or a prompt, never an argument."""
    if office is not None:
        settings = Settings()
        directory = offices.load(settings.offices_file or offices.SAMPLE)
        if directory.get(office) is None:
            typer.echo(f"error: no office {office!r} in the directory", err=True)
            raise typer.Exit(code=2)
    password = _read_password()
    _in_transaction(
        lambda s: add_staff(
            s,
            username=username,
            password=password,
            role=role,
            now=_now(),
            actor=audit.os_actor(as_name),
            office=office,
        )
    )
    typer.echo(f"created {role} {username}" + (f" of office {office}" if office else ""))


@app.command("list")
def list_cmd() -> None:
    """Every account with its role, state and last login."""

    async def work(session: AsyncSession) -> list[tuple[str, str, str, str]]:
        return [
            (
                u.username,
                u.role,
                "active" if u.active else "deactivated",
                u.last_login_at.isoformat()[:19] if u.last_login_at else "",
            )
            for u in await list_staff(session)
        ]

    table = Table(title="staff")
    for column in ("username", "role", "state", "last login (UTC)"):
        table.add_column(column)
    for row in _in_transaction(work):
        table.add_row(*row)
    Console().print(table)


@app.command("deactivate")
def deactivate_cmd(username: str, as_name: AsName = None) -> None:
    """Deactivate an account: its tokens and console sessions stop working at once."""
    _in_transaction(
        lambda s: lifecycle.set_active(
            s, actor=audit.os_actor(as_name), username=username, active=False, now=_now()
        )
    )
    typer.echo(f"deactivated {username}")


@app.command("reactivate")
def reactivate_cmd(username: str, as_name: AsName = None) -> None:
    """Let a deactivated account sign in again (old sessions stay revoked)."""
    _in_transaction(
        lambda s: lifecycle.set_active(
            s, actor=audit.os_actor(as_name), username=username, active=True, now=_now()
        )
    )
    typer.echo(f"reactivated {username}")


@app.command("passwd")
def passwd_cmd(username: str) -> None:
    """Change your own password: the current one, then the new one (stdin lines or prompts)."""
    current = _read_password("Current password", confirm=False)
    new = _read_password("New password")

    async def work(session: AsyncSession) -> list[int]:
        user = await lifecycle.find_user(session, username)
        me = Staff(user.id, user.username, user.role, user.display_name, user.office)
        return await lifecycle.change_password(
            session, staff=me, current=current, new=new, now=_now()
        )

    ended = _in_transaction(work)
    typer.echo(f"password changed for {username}; {len(ended)} session(s) signed out")


@app.command("reset-password")
def reset_cmd(
    username: str,
    generate: Annotated[
        bool, typer.Option("--generate", help="make a random password and print it once")
    ] = False,
    as_name: AsName = None,
) -> None:
    """Set someone's password (read like ``add``) or generate one; all their sessions end."""
    chosen = None if generate else _read_password("New password")
    password = _in_transaction(
        lambda s: lifecycle.reset_password(
            s, actor=audit.os_actor(as_name), username=username, now=_now(), new=chosen
        )
    )
    typer.echo(f"password reset for {username}; every session signed out")
    if generate:
        typer.echo(f"new password (shown once): {password}")


@app.command("tokens")
def tokens_cmd(username: str) -> None:
    """Live tokens and console sessions of an account: issued, last used, expiry (no secrets)."""

    async def work(session: AsyncSession) -> list[dict[str, object]]:
        user = await lifecycle.find_user(session, username)
        return [
            lifecycle.token_dict(t) for t in await lifecycle.live_tokens(session, user, now=_now())
        ]

    table = Table(title=f"tokens of {username}")
    for column in ("id", "kind", "issued", "last used", "expires"):
        table.add_column(column)
    for t in _in_transaction(work):
        table.add_row(
            str(t["id"]),
            str(t["kind"]),
            str(t["issued_at"])[:19],
            str(t["last_used_at"] or "")[:19],
            str(t["expires_at"])[:19],
        )
    Console(width=120).print(table)


@app.command("revoke")
def revoke_cmd(
    username: str,
    token: Annotated[
        int | None, typer.Option("--token", help="one token id (see `tokens`)")
    ] = None,
    revoke_all: Annotated[bool, typer.Option("--all", help="every token and session")] = False,
    as_name: AsName = None,
) -> None:
    """Revoke one token (``--token ID``) or all of them (``--all``)."""
    if (token is None) == (not revoke_all):
        raise typer.BadParameter("give either --token ID or --all", param_hint="--token/--all")
    ids = _in_transaction(
        lambda s: lifecycle.revoke_tokens(
            s, actor=audit.os_actor(as_name), username=username, now=_now(), token_id=token
        )
    )
    typer.echo(f"revoked {len(ids)} token(s) of {username}")
