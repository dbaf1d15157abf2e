"""The staff side of the handover queue: claim, live conversation, transfer, release, timeout."""

from __future__ import annotations

from datetime import timedelta

from bot.handover import staff as desk
from bot.settings import Settings
from tests.bot.backoffice_helpers import (
    ChannelDouble,
    Clock,
    client_for,
    make_staff,
    office_app,
    token_for,
)
from tests.factories import chat_for


async def test_claim_talk_transfer_and_release(settings: Settings) -> None:
    clock = Clock()
    async with office_app(settings, clock=clock) as app, client_for(app) as client:
        telegram = ChannelDouble()
        app.state.outbox.register("reply:telegram", telegram)
        for name in ("li", "wang"):
            await make_staff(app, name, "agent")
        li, wang = await token_for(client, "li"), await token_for(client, "wang")
        consumer = chat_for(app, channel="telegram", sender="5555", now=clock.at)
        await consumer.say("转人工")
        [ticket] = (await client.get("/api/v1/queue", headers=li)).json()
        assert (ticket["status"], ticket["reason"], ticket["channel"]) == (
            "queued",
            "asked",
            "telegram",
        )
        rid = ticket["id"]
        assert (await client.post(f"/api/v1/queue/{rid}/claim", headers=li)).status_code == 200
        again = await client.post(f"/api/v1/queue/{rid}/claim", headers=wang)
        assert again.status_code == 409
        # The bot is quiet now; the consumer's words reach the staff member's live view.
        assert await consumer.say("我的充电宝鼓包了，商家不理我") == []
        seen = (await client.get(f"/api/v1/queue/{rid}/messages", headers=li)).json()
        assert seen[-1]["author"] == "user" and "鼓包" in seen[-1]["text"]
        last = seen[-1]["id"]
        assert (
            await client.get(f"/api/v1/queue/{rid}/messages?after={last}", headers=li)
        ).json() == []
        r = await client.post(
            f"/api/v1/queue/{rid}/reply", json={"text": "您好，我是客服小李"}, headers=li
        )
        assert r.status_code == 202
        other = await client.post(f"/api/v1/queue/{rid}/reply", json={"text": "插话"}, headers=wang)
        assert other.status_code == 403
        empty = await client.post(f"/api/v1/queue/{rid}/reply", json={"text": ""}, headers=li)
        assert empty.status_code == 422
        nobody = await client.post(
            f"/api/v1/queue/{rid}/transfer", json={"to": "ghost"}, headers=li
        )
        assert nobody.status_code == 422
        assert (
            await client.post(f"/api/v1/queue/{rid}/transfer", json={"to": "wang"}, headers=li)
        ).status_code == 200
        assert (await client.post(f"/api/v1/queue/{rid}/release", headers=wang)).status_code == 200
        while await app.state.outbox.run_once():  # every due row, a user's in order
            pass
        assert telegram.texts == [
            "工作人员已接入，接下来由人工为您服务。",
            "您好，我是客服小李",
            "人工服务已结束，接下来由机器人继续为您服务。",
        ]
        assert {r["recipient_id"] for r in telegram.received} == {"5555"}
        assert await consumer.say("你好") != []  # the bot answers again
        assert (await client.get("/api/v1/queue", headers=li)).json() == []
        assert (await client.post("/api/v1/queue/99999/claim", headers=li)).status_code == 404


async def test_claim_without_reply_times_out_back_to_queue(settings: Settings) -> None:
    clock = Clock()
    async with office_app(settings, clock=clock) as app, client_for(app) as client:
        telegram = ChannelDouble()
        app.state.outbox.register("reply:telegram", telegram)
        await make_staff(app, "li", "agent")
        li = await token_for(client, "li")
        consumer = chat_for(app, channel="telegram", sender="6666", now=clock.at)
        await consumer.say("转人工")
        [ticket] = (await client.get("/api/v1/queue", headers=li)).json()
        await client.post(f"/api/v1/queue/{ticket['id']}/claim", headers=li)
        async with app.state.sessions() as session, session.begin():
            assert (
                await desk.requeue_stale(
                    session, now=clock.at + timedelta(minutes=5), idle=timedelta(minutes=10)
                )
                == 0
            )
            assert (
                await desk.requeue_stale(
                    session, now=clock.at + timedelta(minutes=11), idle=timedelta(minutes=10)
                )
                == 1
            )
        [ticket] = (await client.get("/api/v1/queue", headers=li)).json()
        assert ticket["status"] == "queued" and ticket["taken_by"] is None
        clock.at += timedelta(minutes=11)
        while await app.state.outbox.run_once():  # every due row, a user's in order
            pass
        assert "重新排队" in telegram.texts[-1]


async def test_the_timeout_job_runs_in_the_app(settings: Settings) -> None:
    import asyncio

    clock = Clock()
    async with (
        office_app(settings, clock=clock, run_jobs=True, claim_check_seconds=0.05) as app,
        client_for(app) as client,
    ):
        await make_staff(app, "li", "agent")
        li = await token_for(client, "li")
        await chat_for(app, channel="telegram", sender="7777", now=clock.at).say("转人工")
        [ticket] = (await client.get("/api/v1/queue", headers=li)).json()
        await client.post(f"/api/v1/queue/{ticket['id']}/claim", headers=li)
        clock.at += timedelta(minutes=30)
        for _ in range(100):
            [ticket] = (await client.get("/api/v1/queue", headers=li)).json()
            if ticket["status"] == "queued":
                break
            await asyncio.sleep(0.05)
        assert ticket["status"] == "queued"
