"""Fixtures for end-to-end tests: a real server started through the CLI."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

WEIQUAN = str(Path(sys.executable).parent / "weiquan")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(tmp_path: Path, db_url: str, **extra: str) -> dict[str, str]:
    """The environment of a served instance with its own data dir and database."""
    return {
        **os.environ,
        "WEIQUAN_DATA_DIR": str(tmp_path / "var"),
        "WEIQUAN_DATABASE_URL": db_url,
        "WEIQUAN_NLU_MANAGE": "false",
        "WEIQUAN_LOG_LEVEL": "warning",
        # Staff always answer here, so a hand-over is told a wait whatever the hour the test
        # runs (after-hours answers: tests/dialogues/test_handover.py).
        "WEIQUAN_STAFF_HOURS": "00:00-24:00",
        **extra,
    }


@contextmanager
def serving(
    env: dict[str, str], log_path: Path | None = None, *, start_seconds: float = 120
) -> Iterator[str]:
    """``weiquan serve`` on a free port on the migrated database ``env`` names (the
    ``db_url`` fixture's are migrated already); yields the base URL.

    Starting takes a few seconds; on a busy machine, or beside other test processes, much
    longer: ``start_seconds`` bounds the wait."""
    port = free_port()
    # The server's output goes to a file: a pipe nobody reads fills up and stops the server
    # at its next log line.
    log = log_path.open("w+b") if log_path else tempfile.TemporaryFile()  # noqa: SIM115
    proc = subprocess.Popen(
        [WEIQUAN, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_seconds
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            proc.terminate()
            proc.wait(timeout=30)
            log.seek(0)
            raise AssertionError(f"server did not start: {log.read().decode(errors='replace')}")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.fixture
def server(tmp_path: Path, db_url: str) -> Iterator[tuple[str, dict[str, str]]]:
    env = server_env(tmp_path, db_url)
    with serving(env) as url:
        yield url, env
