"""Three ``weiquan serve`` processes on one PostgreSQL database behind nginx (benchmarks/cluster.py).

The cluster's Telegram channel talks to three Bot API doubles, one per instance, so a test
can tell which instance delivered an outbox row. Tests read the database with plain SQL.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from benchmarks.cluster import BALANCERS, Cluster, fresh_database
from tests.conftest import ADMIN_URL, REQUIRE_POSTGRES, _postgres_available
from tests.integrations.telegram_double import SECRET, BotApiDouble, running_double

INSTANCES = 3


def require_postgres_and_balancer(balancer: str = "nginx") -> None:
    problem = _postgres_available()
    if problem:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required here but unreachable at {ADMIN_URL}: {problem}")
        pytest.skip(f"PostgreSQL unreachable at {ADMIN_URL}: {problem}")
    if not Path(BALANCERS[balancer]).exists():
        pytest.fail(f"{BALANCERS[balancer]} is missing: `make lb` installs nginx and haproxy")


@pytest.fixture(scope="package")
def scale_dir() -> Iterator[Path]:
    # Not pytest's tmp_path: its directories are private to root, and a private PostgreSQL
    # cluster runs as the postgres user.
    path = Path(tempfile.mkdtemp(prefix="weiquan-scale-"))
    yield path
    if os.environ.get("WEIQUAN_SCALE_KEEP") != "1":
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="package")
def telegram_doubles() -> Iterator[list[BotApiDouble]]:
    with ExitStack() as stack:
        yield [stack.enter_context(running_double()) for _ in range(INSTANCES)]


def telegram_env(double: BotApiDouble) -> dict[str, str]:
    return {
        "WEIQUAN_TELEGRAM_TOKEN": double.token,
        "WEIQUAN_TELEGRAM_SECRET": SECRET,
        "WEIQUAN_TELEGRAM_BASE_URL": double.base_url,
        "WEIQUAN_TELEGRAM_BASE_FILE_URL": double.base_file_url,
        # Telegram's own limits are not what is tested: no waiting between sends.
        "WEIQUAN_TELEGRAM_CHAT_MAX_RATE": "1000",
        "WEIQUAN_TELEGRAM_OVERALL_MAX_RATE": "1000",
    }


# Every instance polls the outbox often and claims few rows at a time: the instances compete
# for the same rows all the time.
OUTBOX_CONTENTION = {"WEIQUAN_OUTBOX_POLL_SECONDS": "0.05", "WEIQUAN_OUTBOX_BATCH": "3"}


@pytest.fixture(scope="package")
def cluster(scale_dir: Path, telegram_doubles: list[BotApiDouble]) -> Iterator[Cluster]:
    """Shared by the tests of this directory; a test that kills an instance starts it again."""
    require_postgres_and_balancer("nginx")
    work = scale_dir / "cluster"
    with (
        fresh_database(ADMIN_URL) as url,
        Cluster(
            url,
            work,
            instances=INSTANCES,
            balancer="nginx",
            env=OUTBOX_CONTENTION,
            instance_env_extra=[telegram_env(d) for d in telegram_doubles],
        ) as running,
    ):
        yield running


class Db:
    """Plain SQL on the cluster's database."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url)

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(
            host=self.url.host,
            port=self.url.port or 5432,
            user=self.url.username,
            password=self.url.password,
            database=self.url.database,
        )
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    async def value(self, sql: str, *args: Any) -> Any:
        rows = await self.fetch(sql, *args)
        return rows[0][0] if rows else None


@pytest.fixture
async def db(cluster: Cluster) -> AsyncIterator[Db]:
    yield Db(cluster.database_url)
