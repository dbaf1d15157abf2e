"""Alerts on WeChat: inside the 48-hour window a customer-service message; outside it a
subscription message (订阅通知, via wechatpy's client against the WeChat double) for a user
who agreed in chat, and "not deliverable" (blocked, never retried) for one who did not."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from bot import alerts, consents, watchers
from bot.db.models import OutboxMessage
from dialogues.knowledge_port import CertStatus
from integrations.ccc import importer
from tests.bot.test_alerts import ALERT
from tests.bot.test_certificate_watch import WATCHED
from tests.integrations.wechat_double import (
    Account,
    WechatDouble,
    double_server,  # noqa: F401  (the `double` fixture)
    message_xml,
    wechat_app,
    wechat_settings,
)

TEMPLATE = "TPL-alerts-0001"


async def _say(app: Any, account: Account, http: Any, openid: str, text: str) -> str:
    response = await account.post(http, message_xml("text", openid, Content=text))
    assert response.status_code == 200
    await _deliver(app)
    return account.open_reply(response).get("Content", "") if response.text != "success" else ""


async def _deliver(app: Any) -> None:
    while await app.state.outbox.run_once():
        pass


async def test_alert_goes_by_subscription_message_to_who_agreed_outside_the_window(
    sqlite_settings: Any, double: WechatDouble
) -> None:
    account = Account()
    agreed, silent, recent = (
        "o_alert_agreed_000000001",
        "o_alert_silent_000000001",
        "o_alert_recent_00000001",
    )
    wechat = wechat_settings(double, customer_service=True, alert_template_id=TEMPLATE)
    async with wechat_app(sqlite_settings, wechat) as (app, http):
        for openid in (agreed, silent, recent):
            reply = await _say(app, account, http, openid, "订阅充电宝的安全提醒")
            said = reply + "\n".join(double.sent_texts(openid))
            assert "已订阅" in said and "同意用订阅消息接收预警吗" in said
        said = await _say(app, account, http, agreed, "同意接收订阅消息")
        assert "已记下您的同意" in said + "\n".join(double.sent_texts(agreed))
        senders = app.state.senders
        async with app.state.sessions() as session:
            kept = await session.run_sync(
                lambda s: [
                    consents.given(s, "wechat", senders.sender_id("wechat", o))
                    for o in (agreed, silent, recent)
                ]
            )
        assert kept == [True, False, False]

        # Two days later only ``recent`` has written again.
        double.outside_window |= {agreed, silent}
        now = datetime.now(UTC)
        async with app.state.sessions() as session, session.begin():
            row = alerts.publish(session, alerts.Draft(**ALERT), by="zhao", now=now)
            await session.flush()
            alert_id = row.id
        done = await alerts.fan_out(app.state.sessions, alert_id, now=lambda: now)
        assert done.queued == 3
        await _deliver(app)

        [message] = double.subscription_messages
        assert message["touser"] == agreed and message["template_id"] == TEMPLATE
        assert message["data"]["thing1"]["value"].startswith(ALERT["title_zh"][:10])
        assert len(message["data"]["thing1"]["value"]) <= 20
        assert message["data"]["time2"]["value"] == ALERT["valid_until"]
        assert message["page"] == ALERT["source_url"].replace("http://", "https://")
        assert any(ALERT["title_zh"] in t for t in double.sent_texts(recent))
        assert not any(ALERT["title_zh"] in t for t in double.sent_texts(silent))

        async with app.state.sessions() as session:
            counts = await alerts.progress(session, alert_id)
            statuses = sorted(
                (
                    await session.execute(
                        select(OutboxMessage.status).where(
                            OutboxMessage.key.like(f"%alert.{alert_id}%")
                        )
                    )
                ).scalars()
            )
        assert statuses == ["blocked", "sent", "sent"]
        wechat_counts = counts.channels["wechat"]
        assert (wechat_counts.sent, wechat_counts.blocked, wechat_counts.waiting) == (2, 1, 0)
        # Not deliverable is final: nothing is tried again, however long we wait.
        calls = len(double.calls)
        app.state.outbox.clock = lambda: datetime(2030, 1, 1, tzinfo=UTC)
        await _deliver(app)
        assert len(double.calls) == calls

        # Withdrawn in chat: the next alert outside the window is not deliverable to them.
        said = await _say(app, account, http, agreed, "不接收订阅消息")
        assert "已取消" in said + "\n".join(double.sent_texts(agreed))
        double.outside_window.add(agreed)
        async with app.state.sessions() as session, session.begin():
            second = alerts.publish(session, alerts.Draft(**ALERT), by="zhao", now=now)
            await session.flush()
            second_id = second.id
        await alerts.fan_out(app.state.sessions, second_id, now=lambda: now)
        await _deliver(app)
        assert len(double.subscription_messages) == 1
        async with app.state.sessions() as session:
            assert (await alerts.progress(session, second_id)).channels["wechat"].blocked == 2


async def test_a_user_who_refused_the_template_is_blocked_not_retried(
    sqlite_settings: Any, double: WechatDouble
) -> None:
    account = Account()
    openid = "o_alert_refused_00000001"
    wechat = wechat_settings(double, customer_service=True, alert_template_id=TEMPLATE)
    async with wechat_app(sqlite_settings, wechat) as (app, http):
        await _say(app, account, http, openid, "订阅充电宝的安全提醒")
        await _say(app, account, http, openid, "/alerts_consent:yes")
        double.outside_window.add(openid)
        double.refused_subscription.add(openid)  # turned the template off in WeChat
        now = datetime.now(UTC)
        async with app.state.sessions() as session, session.begin():
            row = alerts.publish(session, alerts.Draft(**ALERT), by="zhao", now=now)
            await session.flush()
            alert_id = row.id
        await alerts.fan_out(app.state.sessions, alert_id, now=lambda: now)
        await _deliver(app)
        async with app.state.sessions() as session:
            counts = await alerts.progress(session, alert_id)
        assert (counts.sent, counts.blocked, counts.failed, counts.waiting) == (0, 1, 0, 0)
        assert len(double.calls_to("/cgi-bin/message/subscribe/bizsend")) == 1


async def test_a_certificate_watcher_outside_the_window_gets_a_subscription_message(
    sqlite_settings: Any, double: WechatDouble
) -> None:
    """A watcher's notice is a warning too: asked for consent when watching on WeChat, told
    by subscription message once the 48-hour window has closed."""
    account = Account()
    openid = "o_watcher_agreed_0000001"
    wechat = wechat_settings(double, customer_service=True, alert_template_id=TEMPLATE)
    async with wechat_app(sqlite_settings, wechat) as (app, http):
        engine = app.state.db_engine
        await importer.upsert(engine, [WATCHED])
        await _say(app, account, http, openid, "/ccc")
        await _say(app, account, http, openid, WATCHED.cert_no)
        said = await _say(app, account, http, openid, "关注这个证书")
        said += "\n".join(double.sent_texts(openid))
        assert "已关注3C证书" in said and "同意用订阅消息接收预警吗" in said
        await _say(app, account, http, openid, "同意接收订阅消息")

        double.outside_window.add(openid)
        await importer.upsert(engine, [replace(WATCHED, status=CertStatus.SUSPENDED)])
        now = datetime.now(UTC)
        assert await watchers.tell(engine, now=now, on=now.date()) == 1
        await _deliver(app)
        [message] = double.subscription_messages
        assert message["touser"] == openid and message["template_id"] == TEMPLATE
        title = message["data"]["thing1"]["value"]
        assert title.startswith("3C证书状态变为") and len(title) <= 20  # WeChat's limit
        assert message["data"]["time2"]["value"] == now.date().isoformat()
