"""Two apps in one process, each with its own data dir, personal-data key and back office:
what one stores opens with its own key only, and one's back-office hand-off stays its own."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.exc import StatementError

from bot.crypto import (
    KeyConfigurationError,
    Keyring,
    UndecryptableValue,
    key_id,
    new_key_text,
    parse_key,
)
from bot.db.engine import make_engine, make_sessionmaker
from bot.db.migrate import upgrade_async
from bot.db.models import Case
from bot.evidence import open_file
from bot.settings import NluSettings, SecuritySettings, Settings
from tests.bot.backoffice_helpers import client_for, make_staff, office_app, token_for
from tests.bot.test_complaint_flow import HAPPY
from tests.factories import chat_for, png_bytes

KEYS = {"a": new_key_text(), "b": new_key_text()}
NAMES = {"a": "张三", "b": "李四"}
PHONES = {"a": "13812345678", "b": "13987654321"}
PHOTO = png_bytes(seed=7, size=16)  # the same picture sent to both
SEND_PHOTO = "<the photo>"
HOOK = "http://127.0.0.1:9/hook"  # never called: the outbox does not run here


async def instance(tmp_path: Path, name: str) -> Settings:
    data_dir = tmp_path / name
    data_dir.mkdir()
    url = f"sqlite+aiosqlite:///{data_dir / 'weiquan.sqlite3'}"
    await upgrade_async(url)
    return Settings(
        environment="test",
        data_dir=data_dir,
        database_url=url,
        nlu=NluSettings(manage=False),
        security=SecuritySettings(pii_key=KEYS[name], secret_key=f"secret-of-{name}-" + "x" * 30),
    )


@asynccontextmanager
async def two_apps(tmp_path: Path) -> AsyncIterator[dict[str, FastAPI]]:
    """Both running at once; only ``a`` hands its cases to a back office."""
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(
            office_app(await instance(tmp_path, "a"), url=HOOK, secret="office-secret")
        )
        b = await stack.enter_async_context(office_app(await instance(tmp_path, "b")))
        yield {"a": a, "b": b}


def answers(name: str) -> list[tuple[str, str | None]]:
    """The happy complaint with a photo, and this app's consumer's own name and phone."""
    turns = list(HAPPY)
    # Found by the question each turn answers, so steps added to the form do not shift them.
    skip_photos = [then for _said, then in turns].index("name")
    assert turns[skip_photos][0] == "/skip"
    turns[skip_photos + 1] = (NAMES[name], "phone")
    turns[skip_photos + 2] = (PHONES[name], "address")
    return [
        *turns[:skip_photos],
        (SEND_PHOTO, None),
        ("/done", "name"),
        *turns[skip_photos + 1 :],
        ("/confirm", None),
    ]


async def file_complaints_side_by_side(apps: dict[str, FastAPI]) -> dict[str, str]:
    """One consumer per app, their turns interleaved: each turn of ``a`` runs beside the same
    turn of ``b``."""
    chats = {name: chat_for(app, sender=f"consumer-{name}") for name, app in apps.items()}
    scripts = {name: answers(name) for name in apps}

    async def say(name: str, said: str, then: str | None) -> None:
        chat = chats[name]
        if said == SEND_PHOTO:
            await chat.photo(PHOTO)
            return
        await chat.say(said)
        if then is not None:
            assert chat.awaiting == then, f"{name} after {said!r}: {chat.text}"

    for step in range(len(scripts["a"])):
        await asyncio.gather(*(say(name, *scripts[name][step]) for name in apps))
    return {name: str(chat.last[0].custom["case_no"]) for name, chat in chats.items()}


def raw(app: FastAPI) -> sqlite3.Connection:
    path = Path(app.state.settings.resolved_database_url.removeprefix("sqlite+aiosqlite:///"))
    return sqlite3.connect(path)


def appears(secret: str, text: str) -> bool:
    """In clear, or in clear inside a JSON column (which escapes Chinese as ``\\uXXXX``)."""
    return secret in text or json.dumps(secret)[1:-1] in text


async def test_two_apps_keep_their_keys_and_back_offices_apart(tmp_path: Path) -> None:
    async with two_apps(tmp_path) as apps:
        case_nos = await file_complaints_side_by_side(apps)
        # Staff of each app read their own case, decrypted, while both apps run.
        for name, app in apps.items():
            await make_staff(app, "li", "agent")
            async with client_for(app) as client:
                h = await token_for(client, "li")
                r = await client.get(f"/api/v1/cases/{case_nos[name]}", headers=h)
                assert r.status_code == 200, r.text
                assert r.json()["personal"]["name"] == NAMES[name]
                assert r.json()["personal"]["phone"] == PHONES[name]
        files = {name: app.state.evidence for name, app in apps.items()}

    for name, other in (("a", "b"), ("b", "a")):
        own, foreign = Keyring(parse_key(KEYS[name])), Keyring(parse_key(KEYS[other]))
        with raw(apps[name]) as db:
            dump = "\n".join(db.iterdump())
            [(case_no, stored)] = db.execute("SELECT case_no, personal FROM cases").fetchall()
            transcript = [t for (t,) in db.execute("SELECT text FROM transcript")]
            handoffs = db.execute("SELECT count(*) FROM outbox WHERE topic = 'backoffice'")
            [(handed_off,)] = handoffs.fetchall()
        db.close()
        assert case_no == case_nos[name]
        personal = json.loads(stored)  # a JSON column: the token as a JSON string
        # The database holds ciphertext under this app's key, never the other's.
        for secret in (NAMES[name], PHONES[name], "北京市朝阳区建国路1号"):
            assert not appears(secret, dump), (name, secret)
        assert personal.startswith(f"v2:{key_id(parse_key(KEYS[name]))}:"), personal
        assert transcript and all(t.startswith(f"v2:{own.current_id}:") for t in transcript)
        assert f"v2:{foreign.current_id}:" not in dump
        # Its own key opens it; the other app's key does not, by id or by force.
        context = f"cases.personal#{case_no}"
        assert json.loads(own.decrypt(personal, context))["name"] == NAMES[name]
        with pytest.raises(UndecryptableValue):
            foreign.decrypt(personal, context)
        forced = personal.replace(f"v2:{own.current_id}:", f"v2:{foreign.current_id}:", 1)
        with pytest.raises(UndecryptableValue):
            foreign.decrypt(forced, context)
        # The same photo is stored by each app under its own key.
        [path] = [p for p in files[name].root.rglob("*") if p.is_file()]
        assert open_file(path.read_bytes(), path.name, own) == files[name].read(path.name)
        with pytest.raises(UndecryptableValue):
            open_file(path.read_bytes(), path.name, foreign)
        # Only the app with a back office hands its case over.
        assert handed_off == (1 if name == "a" else 0)


async def test_an_engine_without_a_keyring_refuses_personal_data(tmp_path: Path) -> None:
    async with two_apps(tmp_path) as apps:
        await file_complaints_side_by_side(apps)
        url = apps["a"].state.settings.resolved_database_url
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            with pytest.raises((KeyConfigurationError, StatementError), match="no personal-data"):
                (await session.execute(select(Case))).scalars().all()
    finally:
        await engine.dispose()
