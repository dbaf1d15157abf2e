"""Consumer alerts through the app: a supervisor publishes one in the console, it reaches the
subscribers of its topics and the senders of cases about its brand, staff see counts only,
and a fan-out to many, interrupted and resumed, sends to each recipient once."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import alerts
from bot.db.models import Conversation, OutboxMessage, TranscriptEntry
from bot.outbox import Delivery, GiveUp, OutboxDispatcher
from bot.settings import Settings
from tests.bot.backoffice_helpers import Clock, client_for, make_staff, office_app, submit_case
from tests.bot.test_api_console import csrf_of, login
from tests.factories import chat_for, running_app

ALERT = {
    "category": "chargers",
    "title_zh": "示例牌 PB-1 充电宝召回",
    "title_en": "Power bank PB-1 recalled",
    "text_zh": "该型号充电宝存在过热起火风险，请立即停止使用并联系商家退货。",
    "text_en": "This power bank may overheat and catch fire; stop using it and return it.",
    "brands": "示例牌",
    "cert_nos": "2021010911234567",
    "regions": "广东",
    "source_url": "https://www.samr.gov.cn/zlfzj/",
    "valid_from": "2026-11-27",
    "valid_until": "2027-02-28",
}


async def _alert_texts(app: object, title: str) -> list[tuple[int, str]]:
    async with app.state.sessions() as session:  # type: ignore[attr-defined]
        rows = await session.execute(
            select(TranscriptEntry.conversation_id, TranscriptEntry.text).where(
                TranscriptEntry.author == "system"
            )
        )
        return [(c, t) for c, t in rows if title in t]


@pytest.mark.databases("sqlite", "postgres")
async def test_a_published_alert_reaches_who_it_concerns_and_staff_see_counts(
    settings: Settings,
) -> None:
    clock = Clock(datetime(2026, 11, 28, 2, 0, tzinfo=UTC))
    async with office_app(settings, clock=clock) as app, client_for(app) as client:
        subscribers = {
            "cat": ("telegram", "订阅充电宝的安全提醒"),
            "brand": ("rest", "订阅品牌 示例牌"),
            "region": ("rest", "subscribe to Guangdong alerts"),
            "other": ("rest", "订阅鞋的安全提醒"),
        }
        for sender, (channel, said) in subscribers.items():
            locale = "en-US" if said.startswith("subscribe") else None
            chat = chat_for(
                app, channel=channel, sender=f"sub-{sender}", now=clock.at, locale=locale
            )
            await chat.say(said)
            assert "已订阅" in chat.text or "Subscribed" in chat.text
        # A complaint about the brand, filed before the alert: its sender is told too.
        await submit_case(
            app,
            channel="rest",
            sender="complainant",
            fields={"product": "充电宝", "brand": "示例牌", "platform": "拼多多", "amount": 89},
        )
        await submit_case(app, channel="rest", sender="unrelated")

        await make_staff(app, "zhao", "supervisor")
        await login(client, "zhao")
        page = await client.get("/console/alerts")
        assert "还没有发布的预警" in page.text
        bad = {**ALERT, "source_url": "samr.gov.cn", "csrf": csrf_of(page.text)}
        refused = await client.post("/console/alerts", data=bad)
        assert refused.status_code == 422 and "来源链接" in refused.text
        assert ALERT["text_zh"] in refused.text  # what was typed comes back
        r = await client.post("/console/alerts", data={**ALERT, "csrf": csrf_of(page.text)})
        assert r.status_code == 303

        got = await _alert_texts(app, ALERT["title_zh"])
        got_en = await _alert_texts(app, ALERT["title_en"])
        assert len(got) == 3 and len(got_en) == 1  # cat, brand, complainant; region in English
        assert "有效期至 2027-02-28" in got[0][1] and ALERT["source_url"] in got[0][1]
        page = await client.get("/console/alerts")
        assert "已发完（共 4 人）" in page.text
        assert '<td class="queued">4</td>' in page.text
        # Three on the web chat, kept on their transcripts; one Telegram row waits.
        assert '<td class="sent">3</td>' in page.text
        assert '<td class="waiting">1</td>' in page.text
        for sender in ("sub-cat", "sub-brand", "complainant", "h:"):
            assert sender not in page.text

        # The Telegram user has blocked the bot: recorded as failed, never retried.
        async def blocked(delivery: Delivery) -> None:
            raise GiveUp("Forbidden: bot was blocked by the user")

        outbox = OutboxDispatcher(app.state.sessions, clock=clock)
        outbox.register("reply:telegram", blocked)
        assert await outbox.run_once() == 1
        clock.at = clock.at.replace(hour=5)
        assert await outbox.run_once() == 0
        page = await client.get("/console/alerts")
        assert '<td class="failed">1</td>' in page.text
        assert '<td class="waiting">0</td>' in page.text

        # Run again (a supervisor's "resume"), the fan-out sends nothing twice.
        async with app.state.sessions() as session:
            first = (await session.execute(select(alerts.AlertRow.id))).scalar_one()
        done = await alerts.fan_out(app.state.sessions, first, now=clock)
        assert (done.recipients, done.queued) == (4, 0)
        assert len(await _alert_texts(app, ALERT["title_zh"])) == 3
        audit = await client.get("/console/audit")
        assert "发布消费预警" in audit.text


async def seed_subscribers(
    session: AsyncSession, many: int, now: datetime, channels: tuple[str, ...] = ("telegram",)
) -> None:
    """``many`` conversations subscribed to the alert's category, spread over ``channels``;
    one in ten speaks English. (Also used by benchmarks/fanout_batch.py.)"""
    session.add_all(
        Conversation(
            channel=channels[n % len(channels)],
            sender_id=f"h:{n:040x}",
            locale="en" if n % 10 == 0 else "zh",
            state={},
            created_at=now,
            updated_at=now,
        )
        for n in range(many)
    )
    await session.flush()
    await session.execute(
        insert(alerts.AlertSubscription),
        [
            {
                "channel": channels[n % len(channels)],
                "sender_id": f"h:{n:040x}",
                "kind": "category",
                "value": "chargers",
                "lang": "zh",
                "created_at": now,
            }
            for n in range(many)
        ],
    )


# 1,000 here, through the outbox alone; 10,000 run through the channels' doubles, restarted
# mid-way (tests/integrations/test_alert_fanout_channels.py, the slow tier), which checks the
# same once-each and resume on top of pacing, so it is not repeated here.
@pytest.mark.parametrize("many", [1_000])
async def test_a_fan_out_to_many_interrupted_and_resumed_sends_each_once(
    sqlite_settings: Settings, many: int
) -> None:
    now = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
    async with running_app(sqlite_settings) as app:
        sessions = app.state.sessions
        async with sessions() as session, session.begin():
            await seed_subscribers(session, many, now)
            row = alerts.publish(
                session,
                alerts.Draft(**{**ALERT, "brands": "", "cert_nos": ""}),
                by="zhao",
                now=now,
            )
            await session.flush()
            alert_id = row.id

        class Stop(Exception):
            pass

        def stop_after_three(done: alerts.FanOut) -> None:
            if done.batches == 3:
                raise Stop

        started = time.perf_counter()
        with pytest.raises(Stop):
            await alerts.fan_out(
                sessions, alert_id, now=lambda: now, batch=many // 10, after_batch=stop_after_three
            )
        async with sessions() as session:
            assert (await alerts.progress(session, alert_id)).queued == 3 * (many // 10)
            unfinished = await session.get(alerts.AlertRow, alert_id)
            assert unfinished is not None and unfinished.finished_at is None
        done = await alerts.fan_out(sessions, alert_id, now=lambda: now, batch=many // 10)
        elapsed = time.perf_counter() - started
        assert (done.recipients, done.queued, done.skipped) == (
            many,
            many - 3 * (many // 10),
            3 * (many // 10),
        )

        delivered: Counter[str] = Counter()

        async def deliver(delivery: Delivery) -> None:
            delivered[delivery.payload["recipient_id"]] += 1

        outbox = OutboxDispatcher(sessions, batch=1000, clock=lambda: now)
        outbox.register("reply:telegram", deliver)
        while await outbox.run_once():
            pass
        assert len(delivered) == many and set(delivered.values()) == {1}
        async with sessions() as session:
            counts = await alerts.progress(session, alert_id)
            assert (counts.queued, counts.sent, counts.failed, counts.waiting) == (many, many, 0, 0)
            rows = await session.scalar(select(func.count()).select_from(OutboxMessage))
            assert rows == many
            kept = await session.scalar(
                select(func.count())
                .select_from(TranscriptEntry)
                .where(TranscriptEntry.author == "system")
            )
            assert kept == many
        print(f"fan-out of {many} on SQLite: {elapsed:.1f} s")  # noqa: T201


async def test_interrupted_fan_outs_are_found_while_a_writer_holds_sqlite(
    sqlite_settings: Settings,
) -> None:
    """The start-up job that resumes interrupted fan-outs reads them on a snapshot: a long
    write transaction (another process's, a large import) does not make it wait out SQLite's
    busy timeout and fail, leaving the fan-out stopped."""
    now = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
    async with running_app(sqlite_settings) as app:
        async with app.state.sessions() as session, session.begin():
            row = alerts.publish(
                session, alerts.Draft(**{**ALERT, "brands": "", "cert_nos": ""}), by="zhao", now=now
            )
            await session.flush()
            alert_id = row.id
        path = sqlite_settings.database_url.split("///", 1)[1]
        writer = sqlite3.connect(path, isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")  # holds the write lock, as a long transaction does
        try:
            # A guard against waiting for the lock (the busy timeout is 30 s), not a timing.
            found = await asyncio.wait_for(alerts.unfinished(app.state.sessions), 10)
        finally:
            writer.rollback()
            writer.close()
    assert found == [alert_id]
