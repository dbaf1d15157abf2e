"""Personal data never sits in clear in the database: the file (and WAL) scanned byte by byte."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from bot.settings import Settings
from tests.bot.backoffice_helpers import (
    Clock,
    client_for,
    make_staff,
    office_app,
    submit_case,
    token_for,
)
from tests.factories import chat_for

PHONES = ("13512345678", "13987654321")
ID_NUMBER = "110101199003070011"


async def _all_rows_as_text(app: object, tables: list[str]) -> str:
    sessions = app.state.sessions  # type: ignore[attr-defined]
    out = []
    async with sessions() as session:
        for table in tables:
            rows = await session.execute(text(f'SELECT * FROM "{table}"'))  # noqa: S608 - fixed names
            out.extend(repr(tuple(r)) for r in rows)
    return "\n".join(out)


async def test_no_clear_phone_numbers_in_the_database(settings: Settings) -> None:
    clock = Clock()
    async with office_app(settings, clock=clock) as app, client_for(app) as client:
        await make_staff(app, "li", "agent")
        h = await token_for(client, "li")
        consumer = chat_for(app, channel="telegram", sender="9001", now=clock.at)
        await consumer.say("转人工")
        await consumer.say(f"我的电话是{PHONES[1]}，身份证{ID_NUMBER}")
        [ticket] = (await client.get("/api/v1/queue", headers=h)).json()
        await client.post(f"/api/v1/queue/{ticket['id']}/claim", headers=h)
        await client.post(
            f"/api/v1/queue/{ticket['id']}/reply",
            json={"text": f"好的，我们会打 {PHONES[1]} 联系您"},
            headers=h,
        )
        case_no = await submit_case(
            app, personal={"name": "赵六", "phone": PHONES[0], "address": "文三路1号"}
        )
        detail = (await client.get(f"/api/v1/cases/{case_no}", headers=h)).json()
        assert detail["personal"]["phone"] == PHONES[0]  # the app reads it back
        messages = (await client.get(f"/api/v1/queue/{ticket['id']}/messages", headers=h)).json()
        assert any(PHONES[1] in m["text"] for m in messages)
        async with app.state.sessions() as session:
            tables = [
                r[0]
                for r in await session.execute(
                    text("SELECT name FROM sqlite_master WHERE type='table'")
                    if settings.is_sqlite
                    else text("SELECT tablename FROM pg_tables WHERE schemaname='public'")
                )
            ]
        dump = await _all_rows_as_text(app, tables)
    assert "赵六" not in dump and "文三路" not in dump
    for secret in (*PHONES, ID_NUMBER):
        assert secret not in dump
    if settings.is_sqlite:
        db = Path(settings.resolved_database_url.split("///", 1)[1])
        for path in (db, db.with_name(db.name + "-wal")):
            if path.exists():
                raw = path.read_bytes()
                for secret in (*PHONES, ID_NUMBER, "赵六"):
                    assert secret.encode() not in raw, (path.name, secret)
