"""The ``weiquan`` command line: one typer app, with a sub-app per concern."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import typer
from pydantic import ValidationError

from bot.crypto import KeyConfigurationError

HELP = "维权助手 Weiquan — complaints and tip-offs about counterfeit goods."
# ``serve`` is a command, the others are groups, each in the module of the same name. A run
# imports only the module of the command it was given (all of them cost seconds of start-up,
# most of it for commands not run); ``weiquan --help`` imports them all to list them.
COMMANDS = (
    "serve",
    "db",
    "cases",
    "staff",
    "keys",
    "ccc",
    "credit",
    "offices",
    "nlu",
    "telegram",
    "wechat",
)


def build(names: tuple[str, ...] = COMMANDS) -> typer.Typer:
    """The command line with the given commands."""
    root = typer.Typer(help=HELP, no_args_is_help=True)
    # A group even with one command: `weiquan serve` must not become the bare `weiquan`.
    root.callback()(lambda: None)
    for name in names:
        module = importlib.import_module(f"bot.cli.{name}")
        if name == "serve":
            root.command("serve")(module.serve)
            continue
        if name == "cases" and not module.app.registered_groups:
            from bot.cli import export, typical

            module.app.command("export")(export.export_cmd)
            module.app.add_typer(typical.app, name="typical")
        root.add_typer(module.app, name=name)
    return root


def __getattr__(name: str) -> Any:
    if name == "app":  # the whole command line, as tests and `weiquan --help` see it
        whole = build()
        globals()["app"] = whole
        return whole
    raise AttributeError(name)


def main() -> None:
    """Run the command; settings an operator got wrong are one clear line, not a traceback."""
    given = tuple(arg for arg in sys.argv[1:2] if arg in COMMANDS)
    try:
        build(given or COMMANDS)()
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(part) for part in error.get("loc", ()))
            message = str(error.get("msg", "")).removeprefix("Value error, ")
            typer.echo(f"error: {where + ': ' if where else ''}{message}", err=True)
        raise SystemExit(2) from None
    except KeyConfigurationError as exc:  # a personal-data key that cannot be read or parsed
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
