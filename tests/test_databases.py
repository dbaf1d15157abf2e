"""The test suite's PostgreSQL databases are handed from test to test emptied, as if new."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import PostgresDatabases, _connect

pytestmark = pytest.mark.postgres


async def _fill(database: str) -> int:
    conn = await _connect(database)
    try:
        await conn.execute(
            "INSERT INTO case_sequences (prefix, day, last) VALUES ('TS', '20261202', 7)"
        )
        return int(await conn.fetchval("SELECT nextval(pg_get_serial_sequence('cases', 'id'))"))
    finally:
        await conn.close()


async def _state(database: str) -> tuple[int, int]:
    conn = await _connect(database)
    try:
        rows = int(await conn.fetchval("SELECT count(*) FROM case_sequences"))
        following = int(
            await conn.fetchval("SELECT nextval(pg_get_serial_sequence('cases', 'id'))")
        )
        return rows, following
    finally:
        await conn.close()


def test_a_database_comes_back_empty_with_its_counters_restarted(
    postgres_databases: PostgresDatabases,
) -> None:
    first = postgres_databases.take()
    assert asyncio.run(_fill(first)) == 1
    postgres_databases.give_back(first)
    again = postgres_databases.take()
    try:
        assert again == first  # reused, not copied again
        assert asyncio.run(_state(again)) == (0, 1)
    finally:
        postgres_databases.give_back(again)


def test_a_database_whose_schema_a_test_changed_is_not_handed_on(
    postgres_databases: PostgresDatabases,
) -> None:
    name = postgres_databases.take()

    async def alter() -> None:
        conn = await _connect(name)
        try:
            await conn.execute("CREATE TABLE left_behind (id int)")
        finally:
            await conn.close()

    asyncio.run(alter())
    postgres_databases.give_back(name)
    assert name not in postgres_databases.free and name not in postgres_databases.made
