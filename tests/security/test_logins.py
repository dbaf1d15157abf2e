"""Logins: the attempt limit holds against parallel bursts on PostgreSQL, and Argon2 neither
stalls the event loop nor holds SQLite's write lock while it works."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bot.settings import NluSettings, Settings
from bot.staff.models import LoginAttempt, StaffUser
from bot.staff.passwords import verify_password
from tests.bot.backoffice_helpers import PASSWORD, client_for, make_staff, office_app

BURST = 50


# Accounts whose stored hashes cost several times the default, so one check stands far above
# the scheduling noise of a busy machine (the stored hash's own parameters are what verify uses).
HEAVY = PasswordHasher(time_cost=12)


def argon2_seconds(stored: str) -> float:
    """How long one check of ``stored`` takes on this machine."""
    started = time.perf_counter()
    verify_password(stored, PASSWORD)
    return time.perf_counter() - started


async def heavy_staff(app: FastAPI, names: list[str]) -> str:
    stored = HEAVY.hash(PASSWORD)
    async with app.state.sessions() as session, session.begin():
        for name in names:
            session.add(
                StaffUser(
                    username=name,
                    display_name=name,
                    password_hash=stored,
                    role="agent",
                    active=True,
                    created_at=datetime.now(UTC),
                )
            )
    return stored


async def attempt(client: httpx.AsyncClient, username: str, password: str) -> int:
    r = await client.post("/api/v1/auth/token", json={"username": username, "password": password})
    if r.status_code != 200:
        assert set(r.json()) >= {"error", "message"}
    return r.status_code


def pg_settings(url: str, tmp_path: Any) -> Settings:
    return Settings(
        environment="test",
        data_dir=tmp_path / "var",
        database_url=url,
        nlu=NluSettings(manage=False),
    )


@pytest.mark.postgres
async def test_a_parallel_burst_gets_no_more_guesses_than_the_limit(
    postgres_url: str, tmp_path: Any
) -> None:
    async with office_app(pg_settings(postgres_url, tmp_path)) as app, client_for(app) as client:
        await make_staff(app, "li", "agent")
        limit = app.state.backoffice.settings.backoffice.login_max_failures
        statuses = await asyncio.gather(
            *(attempt(client, "li", f"wrong password {n}") for n in range(BURST))
        )
        assert statuses.count(401) == limit, statuses
        assert statuses.count(429) == BURST - limit
        # The account is locked for the window, even for the right password.
        assert await attempt(client, "li", PASSWORD) == 429
        async with app.state.sessions() as session:
            tried = await session.execute(select(func.count()).where(LoginAttempt.username == "li"))
            assert tried.scalar_one() == limit


@pytest.mark.postgres
async def test_a_parallel_burst_from_one_address_is_limited_too(
    postgres_url: str, tmp_path: Any
) -> None:
    async with office_app(pg_settings(postgres_url, tmp_path)) as app, client_for(app) as client:
        await make_staff(app, "li", "agent")
        per_address = app.state.backoffice.settings.backoffice.login_max_failures * 4
        names = [f"guess{n}" for n in range(per_address + 10)]
        statuses = await asyncio.gather(*(attempt(client, n, "wrong password") for n in names))
        assert statuses.count(401) == per_address, statuses
        assert statuses.count(429) == 10
        assert await attempt(client, "li", PASSWORD) == 429  # this address is locked out


@pytest.mark.databases("sqlite")
async def test_password_checks_leave_the_event_loop_free(settings: Settings) -> None:
    async with office_app(settings) as app, client_for(app) as client:
        names = [f"user{n}" for n in range(3)]
        one = argon2_seconds(await heavy_staff(app, names))
        await attempt(client, names[0], PASSWORD)  # connections opened, caches filled
        gaps: list[float] = []
        done = asyncio.Event()

        async def ticker() -> None:
            last = time.perf_counter()
            while not done.is_set():
                await asyncio.sleep(0.005)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        tick = asyncio.create_task(ticker())
        statuses = await asyncio.gather(*(attempt(client, n, PASSWORD) for n in names))
        statuses += await asyncio.gather(*(attempt(client, n, "wrong password") for n in names))
        done.set()
        await tick
        assert statuses == [200] * 3 + [401] * 3, statuses
        assert max(gaps) < one / 3, (max(gaps), one)


async def test_password_checks_hold_no_sqlite_write_lock(sqlite_settings: Settings) -> None:
    """Another writer can take SQLite's write lock at any moment of the logins: a login that
    held it while hashing would make nearly every try during the hashing fail at once."""
    database = str(make_url(sqlite_settings.resolved_database_url).database)
    async with office_app(sqlite_settings) as app, client_for(app) as client:
        names = [f"user{n}" for n in range(3)]
        await heavy_staff(app, names)
        tries: list[bool] = []  # True: got the write lock at once
        stop = threading.Event()

        def writer() -> None:
            conn = sqlite3.connect(database, timeout=0, isolation_level=None)
            try:
                while not stop.is_set():
                    try:
                        conn.execute("BEGIN IMMEDIATE")
                    except sqlite3.OperationalError as exc:
                        assert "locked" in str(exc), exc
                        tries.append(False)
                    else:
                        conn.execute("COMMIT")
                        tries.append(True)
                    time.sleep(0.005)
            finally:
                conn.close()

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            statuses = await asyncio.gather(*(attempt(client, n, PASSWORD) for n in names))
        finally:
            stop.set()
            await asyncio.to_thread(thread.join)
        assert statuses == [200] * 3
        # The logins' own short writes may collide with a try now and then; hashing is most
        # of their time, so a lock held through it would refuse most tries.
        assert len(tries) >= 10 and tries.count(False) < len(tries) / 4, (
            tries.count(False),
            len(tries),
        )
