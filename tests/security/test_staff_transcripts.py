"""Transcripts are for the person holding the conversation: an agent reads only the one it
holds (a supervisor any), only since the hand-over request, with personal answers masked, and
every read is audited. The consumer's own feed names a role, never a staff username."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from bot.crypto import mask
from bot.settings import Settings
from bot.staff.models import AuditEntry
from tests.bot.backoffice_helpers import Clock, client_for, make_staff, office_app, token_for
from tests.bot.test_api_console import csrf_of, login
from tests.bot.test_complaint_flow import HAPPY
from tests.factories import chat_for, run

# What the consumer typed or the bot repeated that no staff transcript may show in clear.
SECRETS = ("张三", "13812345678", "138 1234 5678", "北京市朝阳区建国路1号")


async def reads(app: FastAPI) -> list[AuditEntry]:
    async with app.state.sessions() as session:
        stmt = (
            select(AuditEntry).where(AuditEntry.action == "transcript_read").order_by(AuditEntry.id)
        )
        return list((await session.execute(stmt)).scalars())


async def queued_after_small_talk(app: FastAPI, clock: Clock) -> tuple[Any, int]:
    """A consumer chats, asks for a person a minute later, then files a complaint while waiting."""
    consumer = chat_for(app, channel="telegram", sender="5001", now=clock.at)
    await consumer.say("你好，我叫李四，以前的事")
    consumer.now = clock.at + timedelta(minutes=1)
    await consumer.say("转人工")
    consumer.now = clock.at + timedelta(minutes=2)
    await run(consumer, HAPPY)
    async with app.state.sessions() as session:
        from bot.db.models import HandoverRequest

        request = (await session.execute(select(HandoverRequest))).scalar_one()
    return consumer, request.id


async def test_only_the_holder_or_a_supervisor_reads_masked_since_the_request(
    settings: Settings,
) -> None:
    clock = Clock()
    async with office_app(settings, clock=clock) as app, client_for(app) as client:
        for name, role in (("li", "agent"), ("wang", "agent"), ("boss", "supervisor")):
            await make_staff(app, name, role)
        li, wang, boss = [await token_for(client, n) for n in ("li", "wang", "boss")]
        _, rid = await queued_after_small_talk(app, clock)
        url = f"/api/v1/queue/{rid}/messages"

        # Waiting in the queue, nobody's yet: an agent may not page through it.
        early = await client.get(url, headers=li)
        assert early.status_code == 403 and early.json()["error"] == "not_your_conversation"
        assert (await client.post(f"/api/v1/queue/{rid}/claim", headers=li)).status_code == 200

        seen = await client.get(url, headers=li)
        assert seen.status_code == 200
        entries = seen.json()
        texts = [e["text"] for e in entries]
        assert texts[0] == "转人工"  # nothing from before the request
        assert not any("李四" in t for t in texts)
        shown = json.dumps(entries, ensure_ascii=False)
        for secret in SECRETS:
            assert secret not in shown, secret
        answers = {e["text"] for e in entries if e["masked"]}
        assert {"张*", mask("138 1234 5678"), mask("北京市朝阳区建国路1号")} <= answers, answers
        assert any("138****5678" in t for t in texts)  # the bot's summary, masked in place
        assert "蓝牙耳机" in shown  # the complaint's facts stay readable

        other = await client.get(url, headers=wang)
        assert other.status_code == 403 and "message" in other.json()
        by_supervisor = await client.get(url, headers=boss)
        assert by_supervisor.status_code == 200
        assert [e["text"] for e in by_supervisor.json()] == texts

        audited = await reads(app)
        assert [(a.actor, a.conversation_id) for a in audited] == [
            ("staff:li", audited[0].conversation_id),
            ("staff:boss", audited[0].conversation_id),
        ]
        assert audited[0].conversation_id is not None
        assert audited[0].detail["entries"] == len(entries)

        # Polling with nothing new reveals nothing and leaves no row; a new message does.
        last = entries[-1]["id"]
        assert (await client.get(f"{url}?after={last}", headers=li)).json() == []
        assert len(await reads(app)) == 2


@pytest.mark.databases("sqlite")
async def test_the_console_shows_a_conversation_only_to_its_holder(settings: Settings) -> None:
    clock = Clock()
    async with (
        office_app(settings, clock=clock, cookie_secure=False) as app,
        client_for(app) as li,
        client_for(app) as wang,
    ):
        await make_staff(app, "li", "agent")
        await make_staff(app, "wang", "agent")
        _, rid = await queued_after_small_talk(app, clock)
        await login(li, "li")
        await login(wang, "wang")
        before = await li.get(f"/console/queue/{rid}")
        assert before.status_code == 200 and "退款" not in before.text and "接入" in before.text
        assert (await li.get(f"/console/queue/{rid}/messages?after=0")).status_code == 403
        csrf = csrf_of((await li.get("/console/queue")).text)
        claimed = await li.post(f"/console/queue/{rid}/claim", data={"csrf": csrf})
        assert claimed.status_code == 303
        page = await li.get(f"/console/queue/{rid}")
        assert "蓝牙耳机" in page.text and "张*" in page.text
        for secret in SECRETS:
            assert secret not in page.text, secret
        polled = await li.get(f"/console/queue/{rid}/messages?after=0")
        assert polled.status_code == 200 and polled.json()["messages"][0]["text"] == "转人工"
        assert (await wang.get(f"/console/queue/{rid}/messages?after=0")).status_code == 403
        assert "蓝牙耳机" not in (await wang.get(f"/console/queue/{rid}")).text
        assert [a.actor for a in await reads(app)] == ["staff:li", "staff:li"]


@pytest.mark.databases("sqlite")
async def test_the_web_feed_names_a_role_never_the_staff_username(settings: Settings) -> None:
    clock = Clock()
    async with office_app(settings, clock=clock) as app, client_for(app) as client:
        await make_staff(app, "li.wei", "agent")
        li = await token_for(client, "li.wei")
        for sender, locale, role in (("web-zh", "zh", "工作人员"), ("web-en", "en", "Staff")):
            consumer = chat_for(app, channel="rest", sender=sender, locale=locale, now=clock.at)
            await consumer.say("转人工" if locale == "zh" else "I want a real person")
            queue = (await client.get("/api/v1/queue", headers=li)).json()
            [rid] = [t["id"] for t in queue if t["status"] == "queued"]
            assert (await client.post(f"/api/v1/queue/{rid}/claim", headers=li)).status_code == 200
            sent = await client.post(
                f"/api/v1/queue/{rid}/reply", json={"text": "您好 / hello"}, headers=li
            )
            assert sent.status_code == 202
            feed = await client.get("/webhooks/rest/pushes", params={"sender": sender})
            pushes = feed.json()
            assert [p["text"] for p in pushes][-1] == "您好 / hello"
            assert {p["custom"]["author"] for p in pushes if p["text"] == "您好 / hello"} == {role}
            assert "li.wei" not in feed.text
            assert (await client.post(f"/api/v1/queue/{rid}/close", headers=li)).status_code == 200
