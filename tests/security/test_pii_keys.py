"""Personal-data keys: production refuses to run without one, values are bound to their row and
field, free text is encrypted, and a key is rotated end to end through ``weiquan keys``."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import ValidationError
from sqlalchemy import select, text

from bot.cases import case_as_dict, get_case
from bot.crypto import Keyring, UndecryptableValue, key_id, new_key_text, parse_key
from bot.db.engine import engine_from_settings
from bot.db.models import (
    Case,
    Conversation,
    HandoverRequest,
    InboundMessage,
    OutboxMessage,
    TranscriptEntry,
)
from bot.db.write_gate import WriteGate, lock_path_for
from bot.keyrotation import rotate
from bot.outbox import Key, enqueue
from bot.settings import NluSettings, SecuritySettings, Settings
from tests.bot.backoffice_helpers import submit_case
from tests.bot.test_complaint_flow import HAPPY
from tests.factories import chat_for, png_bytes, run, running_app

KEY1, KEY2 = new_key_text(), new_key_text()
ID1, ID2 = key_id(parse_key(KEY1)), key_id(parse_key(KEY2))
PROBLEM = next(said for said, then in HAPPY if then == "demand")  # the free-text answer
HANDOVER_TEXT = "转人工，我叫王小五"


def keyed(settings: Settings, **keys: Any) -> Settings:
    security = settings.security.model_copy(update={"pii_key": None, "pii_old_keys": None, **keys})
    return settings.model_copy(update={"security": security})


async def dump(app: Any) -> str:
    """Every row of every table, as text: what someone with the database file would see."""
    settings: Settings = app.state.settings
    async with app.state.sessions() as session:
        names = [
            r[0]
            for r in await session.execute(
                text("SELECT name FROM sqlite_master WHERE type='table'")
                if settings.is_sqlite
                else text("SELECT tablename FROM pg_tables WHERE schemaname='public'")
            )
        ]
        out: list[str] = []
        for name in names:
            rows = await session.execute(text(f'SELECT * FROM "{name}"'))  # noqa: S608 - catalogue names
            out.extend(" | ".join(map(str, r)) for r in rows)
    return "\n".join(out)


def appears(secret: str, raw: str) -> bool:
    """In clear, or in clear inside a JSON column (which escapes Chinese as ``\\uXXXX``)."""
    return secret in raw or json.dumps(secret)[1:-1] in raw


def weiquan(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The real command line, in its own process, configured only through the environment."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("WEIQUAN_")} | {
        "WEIQUAN_DATA_DIR": str(settings.data_dir),
        "WEIQUAN_DATABASE_URL": settings.resolved_database_url,
        "WEIQUAN_NLU_MANAGE": "false",
        "COLUMNS": "120",
        **env,
    }
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-c", "from bot.cli import main; main()", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_refuses_to_start_without_a_key(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="WEIQUAN_PII_KEY or WEIQUAN_PII_KEY_FILE"):
        Settings(
            environment="production",
            security=SecuritySettings(secret_key="s" * 40),
            data_dir=tmp_path,
        )
    settings = Settings(data_dir=tmp_path / "var", nlu=NluSettings(manage=False))
    done = weiquan(
        settings,
        "serve",
        WEIQUAN_ENVIRONMENT="production",
        WEIQUAN_SECRET_KEY="a-real-secret-" + "x" * 30,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "WEIQUAN_PII_KEY or WEIQUAN_PII_KEY_FILE must be set in production" in done.stderr
    status = weiquan(
        settings, "keys", "status", WEIQUAN_ENVIRONMENT="production", WEIQUAN_SECRET_KEY="x" * 40
    )
    assert status.returncode == 2 and "Traceback" not in status.stderr
    assert "WEIQUAN_PII_KEY or WEIQUAN_PII_KEY_FILE must be set in production" in status.stderr
    assert not list(tmp_path.rglob("pii.key"))


@pytest.mark.databases("sqlite")
async def test_production_runs_with_a_key_file_and_creates_none(
    settings: Settings, tmp_path: Path
) -> None:
    key_file = tmp_path / "secrets" / "pii"
    key_file.parent.mkdir()
    key_file.write_text(KEY1 + "\n")
    security = settings.security.model_copy(
        update={"pii_key_file": key_file, "secret_key": "x" * 40}
    )
    production = settings.model_copy(update={"environment": "production", "security": security})
    async with running_app(production) as app:
        chat = chat_for(app)
        await run(chat, HAPPY)
        await chat.say("/confirm")
        raw = await dump(app)
    assert f"v2:{ID1}:" in raw and "张三" not in raw
    assert not (settings.data_dir / "pii.key").exists()


async def test_no_clear_name_phone_problem_or_handover_text_in_the_database(
    settings: Settings,
) -> None:
    async with running_app(keyed(settings, pii_key=KEY1)) as app:
        chat = chat_for(app)
        await run(chat, HAPPY)
        await chat.say("/confirm")
        other = chat_for(app)
        await other.say(HANDOVER_TEXT)
        raw = await dump(app)
        async with app.state.sessions() as session:
            [case_no] = (await session.execute(text("SELECT case_no FROM cases"))).scalars()
            shown = case_as_dict(await get_case(session, case_no))  # type: ignore[arg-type]
            [request] = (await session.execute(select(HandoverRequest))).scalars()
    for secret in ("张三", "13812345678", "建国路", PROBLEM, HANDOVER_TEXT, "王小五"):
        assert not appears(secret, raw), secret
    # Those allowed still see everything (the CLI's `cases show` and exports read this).
    assert shown["fields"]["problem"] == PROBLEM and shown["fields"]["product"] == "蓝牙耳机"
    assert shown["personal"]["phone"] == "13812345678"
    assert request.detail == HANDOVER_TEXT


@pytest.mark.databases("sqlite")
async def test_values_swapped_between_rows_or_fields_fail_loudly(settings: Settings) -> None:
    async with running_app(keyed(settings, pii_key=KEY1)) as app:
        a = await submit_case(app, sender="1", fields={"product": "耳机", "problem": "甲的问题"})
        b = await submit_case(
            app,
            sender="2",
            fields={"product": "耳机", "problem": "乙的问题"},
            personal={"name": "乙", "phone": "13900000000"},
        )
        await chat_for(app, sender="x1").say("转人工 甲")
        await chat_for(app, sender="x2").say("转人工 乙")
        sessions = app.state.sessions

        async def swap(table: str, column: str, key: str, one: object, two: object) -> None:
            json_column = column != "detail" and not settings.is_sqlite
            value = "CAST(:v AS json)" if json_column else ":v"
            async with sessions() as session, session.begin():
                pair = {
                    k: (
                        await session.execute(
                            text(f"SELECT CAST({column} AS TEXT) FROM {table} WHERE {key} = :k"),  # noqa: S608
                            {"k": k},
                        )
                    ).scalar_one()
                    for k in (one, two)
                }
                for k, other in ((one, two), (two, one)):
                    await session.execute(
                        text(f"UPDATE {table} SET {column} = {value} WHERE {key} = :k"),  # noqa: S608
                        {"v": pair[other], "k": k},
                    )

        async def read_case(case_no: str) -> dict[str, Any]:
            async with sessions() as session:
                return case_as_dict(await get_case(session, case_no))  # type: ignore[arg-type]

        async def personal_column(case_no: str) -> Any:
            """The column alone (a Core select, no ORM object): bound to its row as well."""
            async with sessions() as session:
                stmt = select(Case.personal).where(Case.case_no == case_no)
                return (await session.execute(stmt)).scalar_one()

        assert (await read_case(a))["personal"]["name"] == "赵六"
        assert (await personal_column(b))["name"] == "乙"
        await swap("cases", "personal", "case_no", a, b)
        with pytest.raises(UndecryptableValue, match=r"cases\.personal#.*does not belong here"):
            await read_case(a)
        with pytest.raises(UndecryptableValue, match=r"cases\.personal#"):
            await personal_column(b)
        await swap("cases", "personal", "case_no", a, b)  # back
        assert (await read_case(b))["fields"]["problem"] == "乙的问题"
        await swap("cases", "narrative", "case_no", a, b)
        with pytest.raises(UndecryptableValue, match=r"cases\.narrative#"):
            await read_case(b)
        await swap("cases", "narrative", "case_no", a, b)
        # The same row, another field: the narrative copied over the personal data.
        async with sessions() as session, session.begin():
            await session.execute(
                text("UPDATE cases SET personal = narrative WHERE case_no = :k"), {"k": a}
            )
        with pytest.raises(UndecryptableValue, match=r"cases\.personal#"):
            await read_case(a)

        async with sessions() as session:
            ids = sorted(
                (await session.execute(text("SELECT id FROM handover_requests"))).scalars()
            )
        await swap("handover_requests", "detail", "id", *ids)
        with pytest.raises(UndecryptableValue, match=r"handover_requests\.detail#"):
            async with sessions() as session:
                list((await session.execute(select(HandoverRequest))).scalars())


def legacy_token(key: str, plain: str) -> str:
    """A value as written before key ids and binding existed (``v1:``)."""
    nonce = os.urandom(12)
    sealed = AESGCM(parse_key(key)).encrypt(nonce, plain.encode(), b"v1:")
    return "v1:" + base64.urlsafe_b64encode(nonce + sealed).decode()


@pytest.mark.slow  # four command-line processes and a whole rotation: 7-13 s
async def test_rotation_end_to_end(settings: Settings) -> None:
    photo = png_bytes(seed=7)
    async with running_app(keyed(settings, pii_key=KEY1)) as app:
        chat = chat_for(app)
        await run(chat, HAPPY[:13])
        await chat.photo(photo)
        await chat.say("/done")
        await run(chat, HAPPY[14:])
        await chat.say("/confirm")
        await chat_for(app).say(HANDOVER_TEXT)
        # A case from before this change: v1 personal data, free text in the clear fields.
        old_case = await submit_case(app, sender="old")
        async with app.state.sessions() as session, session.begin():
            await session.execute(
                text(
                    "UPDATE cases SET personal = :p, fields = :f, narrative = NULL WHERE case_no = :k"
                ),
                {
                    "p": json.dumps(legacy_token(KEY1, json.dumps({"name": "老用户"}))),
                    "f": json.dumps(
                        {"product": "旧货", "problem": "旧的问题描述"}, ensure_ascii=False
                    ),
                    "k": old_case,
                },
            )
        [sha] = [p.name for p in app.state.evidence.root.rglob("*") if p.is_file()]
        clear = app.state.evidence.read(sha)

    # Key 2 alone cannot read what key 1 wrote: the old key must stay until rotation is done.
    async with running_app(keyed(settings, pii_key=KEY2)) as app:
        async with app.state.sessions() as session:
            with pytest.raises(UndecryptableValue, match=f"key {ID1}, which is not configured"):
                await get_case(session, "TS20261127000001")

    both = {"WEIQUAN_PII_KEY": KEY2, "WEIQUAN_PII_OLD_KEYS": KEY1}
    before = weiquan(settings, "keys", "status", **both)
    assert before.returncode == 1, before.stderr
    assert "need `weiquan keys rotate`" in before.stderr
    done = weiquan(settings, "keys", "rotate", "--batch", "2", **both)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"current key {ID2}" in done.stderr and ID1 in done.stderr
    for table in ("cases", "transcript", "conversations", "handover_requests", "evidence files"):
        assert table in done.stdout  # the per-table counts
    assert "No value under an old key (or in clear) remains" in done.stderr
    again = weiquan(settings, "keys", "rotate", **both)  # resumable: a second run has nothing to do
    assert again.returncode == 0 and "No value under an old key" in again.stderr

    # Key 1 removed: everything still reads, and nothing in the database is under it.
    async with running_app(keyed(settings, pii_key=KEY2)) as app:
        async with app.state.sessions() as session:
            new = case_as_dict(await get_case(session, "TS20261127000001"))  # type: ignore[arg-type]
            old = case_as_dict(await get_case(session, old_case))  # type: ignore[arg-type]
            [request] = (await session.execute(select(HandoverRequest))).scalars()
            said = [e.text for e in (await session.execute(select(TranscriptEntry))).scalars()]
        assert new["fields"]["problem"] == PROBLEM and new["personal"]["name"] == "张三"
        assert old["fields"] == {"product": "旧货", "problem": "旧的问题描述"}
        assert old["personal"] == {"name": "老用户"}
        assert request.detail == HANDOVER_TEXT and HANDOVER_TEXT in said
        assert app.state.evidence.read(sha) == clear
        raw = await dump(app)
        stored = app.state.evidence.path_for(sha).read_bytes()
    assert f"v2:{ID1}:" not in raw and "v1:" not in raw and f"v2:{ID2}:" in raw
    assert not appears("旧的问题描述", raw) and not appears("老用户", raw)
    assert clear not in stored and ID2.encode() in stored
    after = weiquan(settings, "keys", "status", WEIQUAN_PII_KEY=KEY2)
    assert after.returncode == 0, after.stdout + after.stderr


async def test_rotation_while_people_keep_talking(settings: Settings) -> None:
    """Rotation in small batches beside live conversations: no answer is lost or reverted
    (every turn checks the question the bot then asks), and a second run finishes the job."""
    async with running_app(keyed(settings, pii_key=KEY1)) as app:
        chats = [chat_for(app, sender=f"talker-{i}") for i in range(4)]
        for chat in chats:
            await run(chat, HAPPY[:5])
    service = keyed(settings, pii_key=KEY2, pii_old_keys=KEY1)
    async with running_app(service) as app:
        chats = [chat_for(app, sender=f"talker-{i}") for i in range(4)]
        engine = engine_from_settings(service)
        gate = WriteGate(lock_path_for(service.resolved_database_url))
        batches, turns, seen_mid_conversation = 0, 0, set()

        def progress(_table: str, _rows: int) -> None:
            nonlocal batches
            batches += 1
            seen_mid_conversation.add(turns)

        async def talk(chat: Any) -> None:
            nonlocal turns
            for said, then in HAPPY[5:]:
                await chat.say(said)
                assert chat.awaiting == then, f"after {said!r}: {chat.text}"
                turns += 1
                await asyncio.sleep(0.02)  # people pause between messages
            await chat.say("/confirm")

        try:
            rotation = rotate(
                engine,
                app.state.evidence,
                senders=app.state.senders,
                batch=1,
                progress=progress,
                gate=gate.hold if gate.path is not None else None,
            )
            talking = asyncio.gather(*(talk(c) for c in chats))
            report, _ = await asyncio.gather(rotation, talking)
            assert batches > 20 and report.tables["transcript"].rewritten > 0
            # The two really overlapped: batches ran while conversations were half-way.
            assert any(0 < n < 4 * len(HAPPY[5:]) for n in seen_mid_conversation), sorted(
                seen_mid_conversation
            )
            # A second run picks up what changed meanwhile.
            await rotate(engine, app.state.evidence, senders=app.state.senders)
            check = await rotate(engine, app.state.evidence, senders=app.state.senders, write=False)
        finally:
            gate.close()
            await engine.dispose()
        assert check.stale == 0, check.tables
    async with running_app(keyed(settings, pii_key=KEY2)) as app:
        async with app.state.sessions() as session:
            numbers = (await session.execute(text("SELECT case_no FROM cases"))).scalars().all()
            assert len(numbers) == 4
            for case_no in numbers:
                case = case_as_dict(await get_case(session, case_no))  # type: ignore[arg-type]
                assert case["fields"]["problem"] == PROBLEM


async def test_message_path_values_are_bound_to_their_row(settings: Settings) -> None:
    """A conversation's state, a message, its replies, the transcript and an outbox delivery
    copied to another row refuse to open: a staff member reading conversation B never sees
    what A said, and a delivery never goes out with another delivery's text or recipient."""
    async with running_app(keyed(settings, pii_key=KEY1)) as app:
        one, two = chat_for(app, sender="one"), chat_for(app, sender="two")
        await one.say("/complaint")
        await one.say("甲的充电宝")
        await two.say("/complaint")
        await two.say("乙的耳机")
        sessions = app.state.sessions

        async def copy(table: str, column: str, where_to: str, where_from: str) -> None:
            async with sessions() as session, session.begin():
                await session.execute(
                    text(
                        f"UPDATE {table} SET {column} = (SELECT {column} FROM {table} "  # noqa: S608
                        f"WHERE {where_from} LIMIT 1) WHERE {where_to}"
                    )
                )

        async def ids() -> tuple[int, int]:
            async with sessions() as session:
                rows = dict(
                    (await session.execute(text("SELECT sender_id, id FROM conversations"))).all()
                )
            return rows["one"], rows["two"]

        a, b = await ids()

        async def read(model: Any, **where: Any) -> list[Any]:
            async with sessions() as session:
                stmt = select(model).filter_by(**where)
                return list((await session.execute(stmt)).scalars())

        # Each still reads as it was written.
        [conversation] = await read(Conversation, id=a)
        assert conversation.state["slots"]["product"] == "甲的充电宝"
        assert any(e.text == "甲的充电宝" for e in await read(TranscriptEntry, conversation_id=a))
        await copy("conversations", "state", f"id = {b}", f"id = {a}")
        with pytest.raises(UndecryptableValue, match=r"conversations\.state#"):
            await read(Conversation, id=b)
        # The bot's next turn for B reads its state: it fails rather than answer from A's.
        with pytest.raises(UndecryptableValue):
            await two.say("索尼")
        await copy("transcript", "text", f"conversation_id = {b}", f"conversation_id = {a}")
        with pytest.raises(UndecryptableValue, match=r"transcript\.text#"):
            await read(TranscriptEntry, conversation_id=b)
        await copy(
            "inbound_messages", "replies", f"conversation_id = {b}", f"conversation_id = {a}"
        )
        with pytest.raises(UndecryptableValue, match=r"inbound_messages\.replies#"):
            await read(InboundMessage, conversation_id=b)

        # Two deliveries of the outbox: one's payload (recipient and text) copied to the other.
        one, two = (Key(who, "msg.m").spell("reply:telegram") for who in ("1", "2"))
        async with sessions() as session, session.begin():
            for who, text_ in (("1", "给甲"), ("2", "给乙")):
                await session.run_sync(
                    enqueue,
                    topic="reply:telegram",
                    key=Key(who, "msg.m"),
                    payload={"recipient_id": who, "text": text_},
                    due=datetime.now(UTC),
                )
        [first] = await read(OutboxMessage, key=one)
        assert first.payload["text"] == "给甲"
        await copy("outbox", "payload", f"key = '{two}'", f"key = '{one}'")
        with pytest.raises(UndecryptableValue, match=r"outbox\.payload#"):
            await read(OutboxMessage, key=two)


async def test_values_from_before_row_binding_read_and_rotation_rebinds_them(
    settings: Settings,
) -> None:
    """Message-path values written bound to their table and field only (before they were
    bound to rows) still read after the upgrade, and ``weiquan keys rotate`` rebinds them."""
    async with running_app(keyed(settings, pii_key=KEY1)) as app:
        chat = chat_for(app, sender="before")
        await chat.say("/complaint")
        await chat.say("旧的充电宝")
        sessions = app.state.sessions
        keyring = Keyring(parse_key(KEY1))
        async with sessions() as session, session.begin():
            [(cid, state)] = (
                await session.execute(select(Conversation.id, Conversation.state))
            ).all()
            old = keyring.encrypt(json.dumps(state, ensure_ascii=False), "conversations.state")
            value = ":v" if settings.is_sqlite else "CAST(:v AS json)"
            await session.execute(
                text(f"UPDATE conversations SET state = {value} WHERE id = :i"),  # noqa: S608
                {"v": json.dumps(old), "i": cid},
            )
        # Read as before (the table-and-field binding still opens it)…
        await chat.say("安克")
        assert chat.awaiting == "model_no", chat.text  # the brand was taken: the form went on
        async with sessions() as session, session.begin():
            [state] = (await session.execute(select(Conversation.state))).scalars()
            old = keyring.encrypt(json.dumps(state, ensure_ascii=False), "conversations.state")
            await session.execute(
                text(f"UPDATE conversations SET state = {value} WHERE id = :i"),  # noqa: S608
                {"v": json.dumps(old), "i": cid},
            )
        report = await rotate(app.state.db_engine, None, senders=app.state.senders)
        assert report.tables["conversations"].rewritten >= 1
        async with sessions() as session:
            raw = (
                await session.execute(text("SELECT CAST(state AS TEXT) FROM conversations"))
            ).scalar_one()
        token = json.loads(raw)
        # …and after rotation it is bound to its row: it opens only there.
        assert keyring.decrypt(token, f"conversations.state#{cid}")
        with pytest.raises(UndecryptableValue):
            keyring.decrypt(token, "conversations.state")
