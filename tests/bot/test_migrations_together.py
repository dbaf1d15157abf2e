"""Instances started together on one empty PostgreSQL database all migrate it, once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.db.engine import make_engine
from tests.conftest import ADMIN_URL, _admin, _postgres_available

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


async def _versions(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(text("SELECT version_num FROM alembic_version"))).all())
    finally:
        await engine.dispose()


def test_three_instances_migrating_one_empty_database_at_once_all_succeed() -> None:
    problem = _postgres_available()
    if problem:
        pytest.skip(f"PostgreSQL unreachable: {problem}")
    name = f"weiquan_mig_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        env = {**os.environ, "WEIQUAN_DATABASE_URL": url}
        command = [sys.executable, "-c", "from bot.cli import main; main()", "db", "upgrade"]

        def upgrade() -> subprocess.CompletedProcess[str]:
            return subprocess.run(  # noqa: S603
                command, env=env, capture_output=True, text=True, timeout=120, check=False
            )

        with ThreadPoolExecutor(3) as pool:
            runs = list(pool.map(lambda _: upgrade(), range(3)))
        for run in runs:
            assert run.returncode == 0, run.stderr[-2000:]
        assert len(asyncio.run(_versions(url))) == 1
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
