"""The ``weiquan`` command line: one typer app, with a sub-app per concern."""

from __future__ import annotations

import typer
from pydantic import ValidationError

from bot.cli import (
    cases,
    ccc,
    credit,
    db,
    export,
    keys,
    nlu,
    offices,
    serve,
    staff,
    telegram,
    typical,
    wechat,
)
from bot.crypto import KeyConfigurationError

app = typer.Typer(
    help="维权助手 Weiquan — complaints and tip-offs about counterfeit goods.", no_args_is_help=True
)
app.command("serve")(serve.serve)
app.add_typer(db.app, name="db")
cases.app.command("export")(export.export_cmd)
cases.app.add_typer(typical.app, name="typical")
app.add_typer(cases.app, name="cases")
app.add_typer(staff.app, name="staff")
app.add_typer(keys.app, name="keys")
app.add_typer(ccc.app, name="ccc")
app.add_typer(credit.app, name="credit")
app.add_typer(offices.app, name="offices")
app.add_typer(nlu.app, name="nlu")
app.add_typer(telegram.app, name="telegram")
app.add_typer(wechat.app, name="wechat")


def main() -> None:
    """Run the command; settings an operator got wrong are one clear line, not a traceback."""
    try:
        app()
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(part) for part in error.get("loc", ()))
            message = str(error.get("msg", "")).removeprefix("Value error, ")
            typer.echo(f"error: {where + ': ' if where else ''}{message}", err=True)
        raise SystemExit(2) from None
    except KeyConfigurationError as exc:  # a personal-data key that cannot be read or parsed
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
