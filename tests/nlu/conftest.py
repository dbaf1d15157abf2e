"""Fixtures for the Rasa tests: one trained model and one server for the whole session.

Training is fingerprinted (nlu.train): a model for the current data, config, dictionary and
Rasa pins is reused from models/ (the one ``make run`` serves) or from the model cache
(.cache/nlu-models, or WEIQUAN_NLU_CACHE_DIR, which CI keeps between runs), so only a change
to those inputs costs a training run (~3 min on 2 cores).
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio

from nlu.server import RasaSupervisor
from nlu.train import ROOT, train

RASA_PYTHON = ROOT / ".venv-rasa/bin/python"
# A fixed message time, so relative dates in the split resolve the same on every run.
NOW = datetime(2026, 11, 27, 10, 30, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture(scope="session")
def rasa_model() -> Path:
    if not RASA_PYTHON.exists():
        pytest.fail(f"{RASA_PYTHON} missing: run `make rasa-venv` (make test does it)")
    result = train(progress=lambda msg: print(f"[nlu] {msg}", file=sys.stderr))  # noqa: T201
    return result.model


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def rasa_server(rasa_model: Path) -> AsyncIterator[RasaSupervisor]:
    """A real ``rasa run --enable-api`` on loopback, shared by the session's Rasa tests."""
    sup = RasaSupervisor(
        rasa_python=RASA_PYTHON,
        model=rasa_model,
        cwd=ROOT,
        backoff=(0.5, 2.0),
        health_interval=1.0,
        log_file=ROOT / "var" / "log" / "rasa-tests.log",
        # Random tokens start with "-" one time in 64; Rasa's argument parser must still take it.
        token="-" + secrets.token_urlsafe(24),
    )
    await sup.start(wait=True)
    yield sup
    await sup.stop()
