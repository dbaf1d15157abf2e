"""Message ids are a sender's own, and claiming another channel's case cannot be brute-forced.

Attacks as they were confirmed: a second sender reusing a message id got the first sender's
replies (a form summary with name and phone), and fresh senders got fresh tries at the last
four digits of a case's phone, so about 13,000 requests claimed any case.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.db.migrate import upgrade
from bot.db.models import CaseClaim, Conversation, OutboxMessage, TranscriptEntry
from bot.db.models import InboundMessage as InboundRow
from bot.messages import InboundMessage
from tests.conftest import ADMIN_URL, _admin
from tests.integrations.wechat_double import Account, message_xml, wechat_app, wechat_settings

PHONE = "13912345678"
NAME = "王五"
# The report flow up to its summary, which repeats the name and the phone.
REPORT = [
    "我要举报",
    "/choice:online_shop",
    "某某 数码专营店",
    "https://shop12345.taobao.com/?spm=a1z10",
    "/choice:counterfeit_brand",
    "索尼",
    "/no",
    "11月20日在淘宝上看到",
    "店里大量卖假冒的索尼耳机，价格只有正品三分之一，包装印刷模糊",
    "/skip",
    "/choice:none",
    "/choice:real_name",
    "/no",
    NAME,
    PHONE,
]


async def say(
    http: httpx.AsyncClient, sender: str, message: str, message_id: str, **extra: Any
) -> list[dict[str, Any]]:
    body = {"sender": sender, "message": message, "message_id": message_id, **extra}
    response = await http.post("/webhooks/rest/webhook", json=body)
    assert response.status_code == 200, response.text
    return list(response.json())


def text_of(replies: list[dict[str, Any]]) -> str:
    return "\n".join(r["text"] for r in replies)


async def count(app: Any, model: Any, *where: Any) -> int:
    async with app.state.sessions() as session:
        stmt = select(func.count()).select_from(model).where(*where)
        return int((await session.execute(stmt)).scalar_one())


# ---- duplicates are per sender ----------------------------------------------------------


async def test_another_sender_reusing_a_message_id_gets_their_own_answer(
    client: Any, app: Any
) -> None:
    answers = [await say(client, "alice", said, f"m{i}") for i, said in enumerate(REPORT)]
    summary = text_of(answers[-1])
    assert NAME in summary and PHONE in summary
    alice_rows = await count(app, TranscriptEntry)

    # Mallory replays every one of Alice's ids, the summary's last: she gets her own answers.
    last = f"m{len(REPORT) - 1}"
    stolen = await say(client, "mallory", "你好", last)
    assert NAME not in text_of(stolen) and PHONE not in text_of(stolen)
    assert stolen != answers[-1]
    assert all(r["recipient_id"] == "mallory" for r in stolen)
    started = await say(client, "mallory", "我要投诉", "m0")
    assert started[-1]["custom"]["awaiting"] == "product"  # her own flow, not Alice's report

    # Alice repeating her id still gets her first answer, and nothing of hers changed.
    assert await say(client, "alice", "whatever", last) == answers[-1]
    alice = select(Conversation.id).where(Conversation.sender_id == "alice").scalar_subquery()
    assert await count(app, TranscriptEntry, TranscriptEntry.conversation_id == alice) == (
        alice_rows
    )
    assert await count(app, InboundRow, InboundRow.conversation_id == alice) == len(REPORT)
    assert await count(app, InboundRow) == len(REPORT) + 2
    confirmed = await say(client, "alice", "/confirm", "m-confirm")
    assert re.search(r"JB\d{14}", text_of(confirmed))


async def test_same_id_from_two_telegram_users_queues_each_their_own_replies(
    app: Any,
) -> None:
    """Channels that answer through the outbox: each sender's replies go to that sender."""
    now = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)

    def message(sender: str, text: str) -> InboundMessage:
        return InboundMessage(
            channel="telegram",
            channel_message_id="4242",
            sender_id=sender,
            kind="text",
            text=text,
            received_at=now,
            inline=False,
        )

    first = await app.state.pipeline.handle(message("1001", "我要投诉"))
    second = await app.state.pipeline.handle(message("2002", "我要举报"))
    assert not second.duplicate and second.conversation_id != first.conversation_id
    assert [r.text for r in second.replies] != [r.text for r in first.replies]
    again = await app.state.pipeline.handle(message("1001", "我要举报"))
    assert again.duplicate and [r.text for r in again.replies] == [r.text for r in first.replies]
    async with app.state.sessions() as session:
        rows = (await session.execute(select(OutboxMessage))).scalars().all()
    to = {row.payload["recipient_id"] for row in rows}
    assert to == {"1001", "2002"}
    assert len(rows) == len(first.replies) + len(second.replies)


async def test_same_msgid_from_two_wechat_followers_answers_each_their_own(
    sqlite_settings: Any,
) -> None:
    account = Account()
    async with wechat_app(sqlite_settings, wechat_settings()) as (app, http):

        async def send(openid: str, text: str) -> str:
            xml = message_xml("text", openid, msg_id=6054768590000000001, Content=text)
            response = await account.post(http, xml)
            assert response.status_code == 200, response.text
            reply = account.open_reply(response)
            assert reply["ToUserName"] == openid
            return reply["Content"]

        complaint = await send("o-alice", "我要投诉")
        report = await send("o-mallory", "我要举报")
        assert report != complaint
        assert await send("o-alice", "我要举报") == complaint  # Alice's repeat: her answer
        assert await count(app, InboundRow) == 2


# ---- the migration keeps data and changes the key ---------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables yet, to be migrated step by step."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'old.sqlite3'}"
        return
    request.getfixturevalue("postgres_template")  # skips when PostgreSQL is unreachable
    name = f"weiquan_m_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_migration_0008_keeps_rows_and_keys_repeats_by_sender(empty_db_url: str) -> None:
    upgrade(empty_db_url, "0007")
    at = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)

    async def before() -> None:
        engine = create_async_engine(empty_db_url)
        async with engine.begin() as conn:
            for conv_id, sender in ((1, "alice"), (2, "bob")):
                await conn.execute(
                    sa.text(
                        "INSERT INTO conversations (id, channel, sender_id, locale, state,"
                        " message_count, revision, created_at, updated_at)"
                        " VALUES (:id, 'rest', :s, 'zh', '{}', 1, 1, :at, :at)"
                    ),
                    {"id": conv_id, "s": sender, "at": at},
                )
            await conn.execute(
                sa.text(
                    "INSERT INTO inbound_messages (channel, channel_message_id, conversation_id,"
                    " kind, content, received_at, replies)"
                    " VALUES ('rest', 'm1', 1, 'text', '{}', :at, '[]')"
                ),
                {"at": at},
            )
            await conn.execute(
                sa.text(
                    "INSERT INTO case_claims (case_no, channel, sender_id, succeeded, at)"
                    " VALUES ('JB20261127000001', 'rest', 'bob', :f, :at)"
                ),
                {"f": False, "at": at},
            )
        await engine.dispose()

    async def after() -> None:
        engine = create_async_engine(empty_db_url)
        async with engine.begin() as conn:
            old = await conn.execute(sa.text("SELECT conversation_id FROM inbound_messages"))
            assert [r[0] for r in old] == [1]
            claim = (
                await conn.execute(
                    sa.text("SELECT sender_id, locked, address_hash FROM case_claims")
                )
            ).one()
            assert tuple(claim) == ("bob", False, None)
            insert = sa.text(
                "INSERT INTO inbound_messages (channel, channel_message_id, conversation_id,"
                " kind, content, received_at, replies)"
                " VALUES ('rest', 'm1', :c, 'text', '{}', :at, '[]')"
            )
            # Bob may now use Alice's id; Alice may not use hers twice.
            await conn.execute(insert, {"c": 2, "at": at})
        with pytest.raises(sa.exc.IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(insert, {"c": 1, "at": at})
        await engine.dispose()

    asyncio.run(before())
    upgrade(empty_db_url, "0008")
    asyncio.run(after())
    upgrade(empty_db_url)  # and on to the newest revision


# ---- claiming a case from chat -----------------------------------------------------------


def from_address(app: Any, address: str) -> httpx.AsyncClient:
    """A REST client whose requests come from ``address`` (the peer uvicorn reports)."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://weiquan.test")


async def attempt(app: Any, address: str, sender: str, case_no: str, phone: str) -> str:
    """One claimant: send the case number, then answer the claim offer with ``phone``."""
    async with from_address(app, address) as http:
        offer = text_of(await say(http, sender, case_no, uuid.uuid4().hex))
        assert "完整手机号" in offer, offer
        return text_of(await say(http, sender, phone, uuid.uuid4().hex))


async def owner_pushes(app: Any, owner: Any) -> list[str]:
    async with app.state.sessions() as session:
        rows = (await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars()
        return [r.payload["text"] for r in rows if r.payload["recipient_id"] == owner.sender]


async def failures(app: Any, case_no: str) -> int:
    return await count(app, CaseClaim, CaseClaim.case_no == case_no, CaseClaim.succeeded.is_(False))


async def filed_on_telegram(app: Any) -> tuple[Any, str]:
    from tests.dialogues.test_status import file_report
    from tests.factories import chat_for

    owner = chat_for(app, channel="telegram")
    return owner, await file_report(owner, phone=PHONE)


async def test_many_senders_guessing_one_case_lock_it_and_its_owner_is_told(app: Any) -> None:
    owner, case_no = await filed_on_telegram(app)
    told_before = len(await owner_pushes(app, owner))
    replies = [
        await attempt(app, f"203.0.113.{i}", f"guess-{i}", case_no, f"1390000{i:04d}")
        for i in range(5)
    ]
    assert all("没有对上" in r for r in replies[:4]) and "锁定" in replies[4]
    # Fresh senders from fresh addresses, even with the right number, get no more tries.
    late = await attempt(app, "198.51.100.7", "late", case_no, PHONE)
    assert "认领已暂时锁定" in late and "认领成功" not in late
    assert await failures(app, case_no) == 5
    pushes = (await owner_pushes(app, owner))[told_before:]
    assert len(pushes) == 1 and case_no in pushes[0] and "锁定" in pushes[0]
    # More guesses while locked tell the owner nothing new.
    await attempt(app, "198.51.100.8", "later", case_no, "13900009999")
    assert len(await owner_pushes(app, owner)) == told_before + 1
    await owner.say("我的举报怎么样了")
    assert case_no in owner.text  # the owner keeps the case


async def test_a_parallel_burst_gets_no_more_tries_than_the_limit(app: Any) -> None:
    _owner, case_no = await filed_on_telegram(app)
    offers = await asyncio.gather(
        *(attempt(app, f"192.0.2.{i}", f"burst-{i}", case_no, f"1380000{i:04d}") for i in range(16))
    )
    assert sum("锁定" in r for r in offers) >= 11
    assert await failures(app, case_no) == 5


async def test_an_address_spraying_case_numbers_is_locked(app: Any) -> None:
    _owner, real = await filed_on_telegram(app)
    day = real[2:10]
    sprayed = [f"JB{day}{n:06d}" for n in range(500, 520)]
    for i, case_no in enumerate(sprayed):
        reply = await attempt(app, "203.0.113.66", f"spray-{i}", case_no, "13900000000")
        assert "认领" in reply or "没有对上" in reply
    # The 21st try from that address is refused, even on a real case with its right number.
    refused = await attempt(app, "203.0.113.66", "spray-real", real, PHONE)
    assert "认领已暂时锁定" in refused
    assert await failures(app, real) == 0  # the refused try did not count against the case
    # Its owner, on another channel and address, still claims it.
    welcome = await attempt(app, "198.51.100.20", "owner-on-web", real, "+86 139 1234 5678")
    assert "认领成功" in welcome and real in welcome


@pytest.mark.databases("sqlite")
async def test_the_real_owner_claims_before_the_lock(app: Any) -> None:
    _owner, case_no = await filed_on_telegram(app)
    for i in range(4):
        await attempt(app, f"203.0.113.{i}", f"guess-{i}", case_no, f"1390000{i:04d}")
    mine = await attempt(app, "198.51.100.1", "owner-web", case_no, "139-1234-5678")
    assert "认领成功" in mine and case_no in mine
    async with from_address(app, "198.51.100.1") as http:
        status = text_of(await say(http, "owner-web", "我的举报怎么样了", "s1"))
    assert case_no in status


@pytest.mark.databases("sqlite")
async def test_nothing_tells_a_real_case_from_an_unknown_one(app: Any) -> None:
    owner, real = await filed_on_telegram(app)
    unknown = real[:-6] + "999999"

    async def attack(case_no: str, prefix: str) -> list[str]:
        said = [
            await attempt(app, f"{prefix}.{i}", f"{prefix}-{i}", case_no, f"1370000{i:04d}")
            for i in range(6)
        ]
        return [s.replace(case_no, "<n>") for s in said]

    assert await attack(real, "203.0.113") == await attack(unknown, "198.51.100")
    # An attacker's own list never shows the case either.
    async with from_address(app, "203.0.113.1") as http:
        assert real not in text_of(await say(http, "203.0.113-1", "我的举报怎么样了", "x"))
    assert len([p for p in await owner_pushes(app, owner) if "锁定" in p]) == 1


@pytest.mark.databases("sqlite")
async def test_claims_answer_in_english(app: Any) -> None:
    _owner, case_no = await filed_on_telegram(app)
    async with from_address(app, "203.0.113.9") as http:
        offer = text_of(await say(http, "en-user", case_no, "e1", locale="en"))
        assert "whole mobile number" in offer
        assert "not only part" in text_of(await say(http, "en-user", "5678", "e2", locale="en"))
        for i in range(5):
            reply = text_of(await say(http, "en-user", f"1390000{i:04d}", f"e{3 + i}", locale="en"))
        assert "Claiming is locked" in reply and "staff" in reply
