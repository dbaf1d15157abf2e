"""App instances for the deployment tests: ``weiquan serve`` on a chosen address and port."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.e2e.conftest import WEIQUAN


def say(http: httpx.Client, base: str, sender: str, message: str) -> httpx.Response:
    return http.post(f"{base}/webhooks/rest/webhook", json={"sender": sender, "message": message})


@contextmanager
def instance(env: dict[str, str], host: str, port: int, log: Path) -> Iterator[None]:
    """``weiquan serve`` on HOST:PORT until the block ends."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [WEIQUAN, "serve", "--host", host, "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            # Starting takes a few seconds; on a busy machine much longer.
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"http://{host}:{port}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"instance on {host} did not start: {log.read_text()}")
                time.sleep(0.1)
            yield
        finally:
            proc.terminate()
            proc.wait(timeout=15)
