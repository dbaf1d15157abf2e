"""A command imports only what it runs: `weiquan db upgrade` or `weiquan keys status` does not
load the web app, the channels and the understanding (seconds of start-up)."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
from bot.cli import main
sys.argv = ["weiquan", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print("LOADED", " ".join(m for m in ("bot.app", "fastapi", "telegram", "nlu.client") if m in sys.modules))
"""


def loaded(*args: str) -> tuple[str, set[str]]:
    done = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out, _, modules = done.stdout.rpartition("LOADED")
    return out, set(modules.split())


@pytest.mark.parametrize("command", ["db", "keys", "staff"])
def test_a_command_loads_only_its_own_part(command: str) -> None:
    out, modules = loaded(command, "--help")
    assert "Usage" in out and command in out
    assert not modules & {"bot.app", "fastapi", "telegram", "nlu.client"}, modules


def test_help_still_lists_every_command() -> None:
    out, _ = loaded("--help")
    for command in ("serve", "db", "cases", "staff", "keys", "ccc", "credit", "offices", "nlu"):
        assert command in out
    assert "telegram" in out and "wechat" in out
