"""Shared fixtures: databases (SQLite file and a fresh PostgreSQL database), apps, chats."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy.engine import make_url

from bot.db.migrate import upgrade
from bot.staff.passwords import _dummy_hash as PRODUCTION_DUMMY_HASH
from bot.staff.passwords import hasher as PRODUCTION_HASHER

# Apps built in tests answer with the rule fallback unless a test starts Rasa itself.
os.environ.setdefault("WEIQUAN_NLU_MANAGE", "false")
# Test processes (two per core) share one PostgreSQL server and its max_connections (100 by
# default): an app a test starts, and the servers it spawns, keep a few connections each
# instead of production's 20 + 10 (bursts wait for a free one instead).
os.environ.setdefault("WEIQUAN_DATABASE_POOL_SIZE", "4")
os.environ.setdefault("WEIQUAN_DATABASE_MAX_OVERFLOW", "6")

ADMIN_URL = os.environ.get(
    "WEIQUAN_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = (
    os.environ.get("CI") == "true" or os.environ.get("WEIQUAN_TEST_REQUIRE_POSTGRES") == "1"
)


async def _connect(database: str | None = None) -> Any:
    import asyncpg

    url = make_url(ADMIN_URL)
    return await asyncpg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        database=database or url.database,
    )


async def _admin(sql: str) -> None:
    conn = await _connect()
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _postgres_available() -> str | None:
    try:
        asyncio.run(_admin("SELECT 1"))
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated template database; each test copies it (CREATE DATABASE … TEMPLATE)."""
    problem = _postgres_available()
    if problem:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required here but unreachable at {ADMIN_URL}: {problem}")
        pytest.skip(f"PostgreSQL unreachable at {ADMIN_URL}: {problem}")
    name = f"weiquan_tmpl_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield name
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


_TABLES_SQL = "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
_SEQUENCES_SQL = "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"


async def _layout(database: str) -> tuple[tuple[str, ...], str | None]:
    """The tables of a database and its migration version; None for the version when a
    migration put rows in a table (emptying a database would then lose them)."""
    conn = await _connect(database)
    try:
        tables = tuple(r[0] for r in await conn.fetch(_TABLES_SQL))
        version = (
            await conn.fetchval("SELECT version_num FROM alembic_version")
            if "alembic_version" in tables
            else None
        )
        for table in tables:  # names from pg_tables
            probe = f'SELECT 1 FROM "{table}" LIMIT 1'  # noqa: S608
            if table != "alembic_version" and await conn.fetchval(probe):
                return tables, None
        return tables, version
    finally:
        await conn.close()


async def _emptied(database: str, layout: tuple[tuple[str, ...], str | None]) -> bool:
    """Empty a test's database for the next test; False when the test changed its schema
    (a migration test), and it must go."""
    conn = await _connect(database)
    try:
        # Sessions a test left open end here, as DROP DATABASE … WITH (FORCE) would end them.
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        tables = tuple(r[0] for r in await conn.fetch(_TABLES_SQL))
        if "alembic_version" not in tables or layout[1] is None:
            return False
        version = await conn.fetchval("SELECT version_num FROM alembic_version")
        if (tables, version) != layout:
            return False
        # DELETE, not TRUNCATE: a few rows go at once, where TRUNCATE makes new files for
        # every table and index (seconds on a busy server). Foreign keys are not checked
        # (every row goes) and the commit need not wait for the disk (a test database).
        sequences = [r[0] for r in await conn.fetch(_SEQUENCES_SQL)]
        emptied = (t for t in tables if t != "alembic_version")  # names from pg_tables
        deletes = "".join(f' DELETE FROM "{t}";' for t in emptied)  # noqa: S608
        restarts = "".join(f' ALTER SEQUENCE "{q}" RESTART;' for q in sequences)
        await conn.execute(
            "BEGIN; SET LOCAL synchronous_commit = off;"
            f" SET LOCAL session_replication_role = replica;{deletes}{restarts} COMMIT;"
        )
        return True
    except Exception:
        return False
    finally:
        await conn.close()


class PostgresDatabases:
    """Migrated PostgreSQL databases for tests: copied from the template when none is free,
    emptied after each test (rows deleted, sequences restarted) and handed to the next.
    Copying (CREATE DATABASE … TEMPLATE) and dropping one take seconds each on a busy server
    (a drop forces a checkpoint); emptying takes a tenth of one. A test that changed the
    schema gets its database dropped instead."""

    def __init__(self, template: str) -> None:
        self.template = template
        self.layout = asyncio.run(_layout(template))
        self.free: list[str] = []
        self.made: set[str] = set()

    def take(self) -> str:
        if self.free:
            return self.free.pop()
        name = f"weiquan_t_{uuid.uuid4().hex[:12]}"
        asyncio.run(_admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))
        self.made.add(name)
        return name

    def give_back(self, name: str) -> None:
        if asyncio.run(_emptied(name, self.layout)):
            self.free.append(name)
        else:
            self.made.discard(name)
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        for name in self.made:
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_databases(postgres_template: str) -> Iterator[PostgresDatabases]:
    databases = PostgresDatabases(postgres_template)
    try:
        yield databases
    finally:
        databases.close()


@pytest.fixture
def postgres_url(postgres_databases: PostgresDatabases) -> Iterator[str]:
    """A migrated database of its own for the test, with no rows."""
    name = postgres_databases.take()
    try:
        yield make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        postgres_databases.give_back(name)


SQLITE_NAME = "weiquan.sqlite3"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database, migrated once per session; each test copies the file."""
    directory = tmp_path_factory.mktemp("sqlite-template")
    upgrade(f"sqlite+aiosqlite:///{directory / SQLITE_NAME}")
    return directory


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    # The database file with its write-ahead log, should the migration have left one.
    for file in sqlite_template.iterdir():
        shutil.copyfile(file, tmp_path / file.name)
    return f"sqlite+aiosqlite:///{tmp_path / SQLITE_NAME}"


DATABASES = {"sqlite": "sqlite", "postgres": pytest.param("postgres", marks=pytest.mark.postgres)}


def database_url(request: pytest.FixtureRequest) -> str:
    """A fresh migrated database of the kind the test's parameter names."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


@pytest.fixture(params=list(DATABASES.values()))
def db_url(request: pytest.FixtureRequest) -> str:
    """Run the test once on SQLite and once on PostgreSQL (the ``databases`` marker narrows it)."""
    return database_url(request)


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``@pytest.mark.databases("sqlite")``: the databases a test taking ``db_url`` runs on.

    Behaviour that does not depend on the database (dialogue, validation, rendering) runs on
    SQLite only; persistence, concurrency, locking and migrations keep PostgreSQL. The marker
    becomes a parametrisation of ``db_url``, which takes precedence over the fixture's own.
    """
    marker = metafunc.definition.get_closest_marker("databases")
    if marker is None or "db_url" not in metafunc.fixturenames:
        return
    unknown = set(marker.args) - DATABASES.keys()
    if unknown or not marker.args:
        raise pytest.UsageError(f"databases marker on {metafunc.definition.nodeid}: {marker.args}")
    values = [DATABASES[name] for name in marker.args]
    metafunc.definition.add_marker(
        pytest.mark.parametrize("db_url", values, indirect=True), append=False
    )


@pytest.fixture
def settings(tmp_path: Path, db_url: str):  # type: ignore[no-untyped-def]
    from bot.settings import NluSettings, Settings

    return Settings(
        environment="test",
        data_dir=tmp_path / "var",
        database_url=db_url,
        nlu=NluSettings(manage=False),
    )


@pytest.fixture
def sqlite_settings(tmp_path: Path, sqlite_url: str):  # type: ignore[no-untyped-def]
    from bot.settings import NluSettings, Settings

    return Settings(
        environment="test",
        data_dir=tmp_path / "var",
        database_url=sqlite_url,
        nlu=NluSettings(manage=False),
    )


@pytest.fixture
async def app(settings) -> AsyncIterator[object]:  # type: ignore[no-untyped-def]
    from tests.factories import running_app

    async with running_app(settings) as app:
        yield app


@pytest.fixture
async def client(app) -> AsyncIterator[object]:  # type: ignore[no-untyped-def]
    import httpx

    from bot.web.limits import BodyLimit

    transport = httpx.ASGITransport(app=BodyLimit(app, app.state.settings.chat.max_body_bytes))
    async with httpx.AsyncClient(transport=transport, base_url="http://weiquan.test") as http:
        yield http


# Argon2 at the production cost (RFC 9106 low-memory: 3 passes over 64 MiB, 4 lanes) takes a
# quarter of a CPU second per hash, and the back-office tests hash and check passwords
# hundreds of times. In-process tests hash with the same Argon2id code at the lowest cost; the
# servers tests start as processes (e2e, fuzz) and tests marked ``argon2_production_cost``
# keep the production cost.
CHEAP_ARGON2 = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(autouse=True)
def _own_data_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No test writes under the checkout's ``var/``: what a test builds from the environment
    (a CLI run, ``Settings()``) keeps its data and creates its development key in a directory
    of its own. A suite run had left ``var/pii.key`` in the checkout, and one test read it
    while another was creating it."""
    if "WEIQUAN_DATA_DIR" not in os.environ:
        monkeypatch.setenv("WEIQUAN_DATA_DIR", str(tmp_path_factory.mktemp("var")))


@pytest.fixture(scope="session", autouse=True)
def _cheap_argon2() -> Iterator[None]:
    from bot.staff import passwords

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "hasher", lambda: CHEAP_ARGON2)
        patch.setattr(
            passwords, "_dummy_hash", cache(lambda: CHEAP_ARGON2.hash("timing-equaliser-password"))
        )
        yield


@pytest.fixture(autouse=True)
def _production_argon2(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.node.get_closest_marker("argon2_production_cost") is None:
        yield
        return
    from bot.staff import passwords

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "hasher", PRODUCTION_HASHER)
        patch.setattr(passwords, "_dummy_hash", PRODUCTION_DUMMY_HASH)
        yield


_RASA_FIXTURES = {"rasa_model", "rasa_server"}
# Session fixtures that start a server for many tests: under ``--dist loadgroup`` (make test)
# the tests taking one run in one process, so it starts once and not once per process.
_SERVER_FIXTURES = {"rasa_server": "rasa-server"}
# Directories whose tests share servers started once for the directory (tests/scale: a
# cluster of instances and a balancer, package-scoped so they stop when its tests are done
# instead of polling idle until the run ends).
_SERVER_DIRECTORIES = ("scale",)
# A module's own fixtures shared by its tests (the session fixtures of this file, the migrated
# templates, are each process's own and cheap).
_SHARED_SCOPES = {"package", "module", "class"}
# Markers of the tests that take longest; under loadgroup they are handed out first, the
# heaviest (a minute or more each) before all others, so no process ends the run alone with
# one of them while the others are idle.
_LONG = ("rasa", "e2e", "fuzz", "slow")


def _hand_out_order(item: pytest.Item) -> int:
    if item.get_closest_marker("heavy"):
        return 0
    return 1 if any(item.get_closest_marker(m) for m in _LONG) else 2


def _xdist_group(item: pytest.Item) -> str | None:
    """The group of tests ``item`` must share a process with under ``--dist loadgroup``."""
    names = getattr(item, "fixturenames", ())
    for fixture, group in _SERVER_FIXTURES.items():
        if fixture in names:
            return group
    parts = item.path.relative_to(item.config.rootpath).parts
    if len(parts) > 2 and parts[0] == "tests" and parts[1] in _SERVER_DIRECTORIES:
        return parts[1]
    fixtures = getattr(item, "_fixtureinfo", None)
    if fixtures is not None:
        for name in names:
            if any(d.scope in _SHARED_SCOPES for d in fixtures.name2fixturedefs.get(name, ())):
                return item.nodeid.split("::", 1)[0]
    return None


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's worker reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that need the Rasa environment carry the ``rasa`` marker (``make test-fast`` skips
    them). Under ``--dist loadgroup`` tests sharing a server get one ``xdist_group``, and the
    heavy tests come first, then the other long ones."""
    for item in items:
        if _RASA_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.rasa)
    # The controller sees ``--dist loadgroup``; a worker, which collects and runs the tests,
    # sees ``dist`` "no" and ``loadgroup`` set (pytest-xdist's worker set-up).
    if not (
        config.getoption("dist", "no") == "loadgroup" or getattr(config.option, "loadgroup", False)
    ):
        return
    for item in items:
        group = _xdist_group(item)
        if group is not None and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(group))
    items.sort(key=_hand_out_order)
