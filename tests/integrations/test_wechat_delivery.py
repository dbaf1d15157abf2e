"""Exactly-once processing and the 5-second rule: duplicates, slow answers, long answers,
customer-service delivery from the outbox, and the shared access token."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select

from bot.db.models import Case, CaseEvent, Conversation, OutboxMessage, TranscriptEntry
from bot.db.models import InboundMessage as InboundRow
from bot.messages import InboundMessage
from integrations.wechat.models import WechatAccessToken
from tests.integrations.wechat_double import (
    Account,
    WechatDouble,
    double_server,  # noqa: F401  (the `double` fixture)
    message_xml,
    new_msg_id,
    wechat_app,
    wechat_settings,
)


class SlowPipeline:
    """The app's pipeline behind a delay, as when the database or the NLU is slow."""

    def __init__(self, inner: Any, delay: float) -> None:
        self.inner = inner
        self.delay = delay
        self.calls = 0

    async def handle(self, message: InboundMessage) -> Any:
        self.calls += 1
        await asyncio.sleep(self.delay)
        return await self.inner.handle(message)


async def count(app: Any, model: Any) -> int:
    async with app.state.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_three_concurrent_deliveries_one_processing_three_identical_replies(
    settings: Any, double: WechatDouble
) -> None:
    account = Account()
    xml = message_xml(
        "text", "o_triple_00000000000000001", msg_id=new_msg_id(), Content="/complaint"
    )
    async with wechat_app(settings, wechat_settings(double)) as (app, http):
        slow = SlowPipeline(app.state.pipeline, 0.3)
        app.state.pipeline = slow
        responses = await asyncio.gather(
            *(account.post(http, xml, mode) for mode in ("safe", "safe", "compatible"))
        )
        assert [r.status_code for r in responses] == [200, 200, 200]
        contents = [account.open_reply(r)["Content"] for r in responses]
        assert contents[0] == contents[1] == contents[2]
        assert "商品" in contents[0]
        assert slow.calls == 1
        assert await count(app, InboundRow) == 1
        assert await count(app, TranscriptEntry) == 1 + len(contents[0].split("\n\n"))
        # A later redelivery (another worker, after this one forgot) still changes nothing.
        app.state.wechat.channel.jobs.clear()
        again = await account.post(http, xml)
        assert account.open_reply(again)["Content"] == contents[0]
        assert await count(app, InboundRow) == 1


async def test_slow_answer_with_customer_service_says_success_then_sends(
    settings: Any, double: WechatDouble
) -> None:
    account = Account()
    openid = "o_slow_cs_0000000000000001"
    xml = message_xml("text", openid, msg_id=new_msg_id(), Content="/complaint")
    wechat = wechat_settings(double, customer_service=True, passive_budget_seconds=0.2)
    async with wechat_app(settings, wechat) as (app, http):
        app.state.pipeline = SlowPipeline(app.state.pipeline, 0.6)
        first = await account.post(http, xml)
        assert first.status_code == 200 and first.text == "success"
        # WeChat's retry of the same message (should it come) is not answered twice.
        retry = await account.post(http, xml)
        assert retry.text == "success"
        channel = app.state.wechat.channel
        await channel.drain()
        assert await app.state.outbox.run_once() >= 1
        while await app.state.outbox.run_once():  # the user's later rows, in order
            pass
        texts = double.sent_texts(openid)
        assert texts and "商品" in "\n".join(texts)
        assert await count(app, InboundRow) == 1
        # The outbox rows are done; a third delivery on another worker still says success.
        channel.jobs.clear()
        assert (await account.post(http, xml)).text == "success"
        assert await app.state.outbox.run_once() == 0
        assert len(double.sent_texts(openid)) == len(texts)


async def test_slow_answer_without_customer_service_rides_on_wechats_retry(
    settings: Any, double: WechatDouble
) -> None:
    account = Account()
    openid = "o_slow_nocs_00000000000001"
    xml = message_xml("text", openid, msg_id=new_msg_id(), Content="/complaint")
    wechat = wechat_settings(
        double, customer_service=False, passive_budget_seconds=0.1, retry_hold_seconds=0.2
    )
    async with wechat_app(settings, wechat) as (app, http):
        slow = SlowPipeline(app.state.pipeline, 0.5)
        app.state.pipeline = slow
        first = await account.post(http, xml)
        assert first.status_code == 503 and first.text == ""  # no answer: WeChat retries
        # WeChat retries seconds later, when the first delivery's work has finished here.
        await asyncio.gather(*(job.task for job in app.state.wechat.channel.jobs.values()))
        retry = await account.post(http, xml)
        assert retry.status_code == 200
        assert "商品" in account.open_reply(retry)["Content"]
        assert slow.calls == 1 and await count(app, InboundRow) == 1
        assert double.sent == []  # no customer-service API on this account
        assert await count(app, OutboxMessage) == 0


LONG_PROBLEM = "问题经过：" + "耳机是假的，" * 330

# The complaint form's answers, by the question being asked.
ANSWERS = {
    "product": "耳机",
    "brand": "/skip",
    "model_no": "/skip",
    "platform": "京东",
    "merchant": "某店",
    "merchant_address": "https://shop.example.com/1",
    "order_no": "/skip",
    "purchase_date": "2026-11-01",
    "amount": "399",
    "problem": LONG_PROBLEM,
    "demand": "退款并赔偿",
    "claim_amount": "798元",
    "photos": "/skip",
    "name": "张三",
    "phone": "13812345678",
    "address": "北京市朝阳区建国路1号",
    "id_type": "/skip",
    "consent_publish": "/yes",
}


async def step_of(app: Any, openid: str) -> str | None:
    async with app.state.sessions() as session:
        conversation = (
            await session.execute(
                select(Conversation).where(
                    Conversation.channel == "wechat",
                    Conversation.sender_id == app.state.senders.sender_id("wechat", openid),
                )
            )
        ).scalar_one_or_none()
        return None if conversation is None else conversation.state.get("step")


async def _summary_with_long_problem(app: Any, account: Account, http: Any, openid: str) -> None:
    """Fill the complaint form up to its last question (mediation consent), by what it asks."""
    response = await account.post(http, message_xml("text", openid, Content="/complaint"))
    assert response.status_code == 200
    asked: list[str] = []
    while (step := await step_of(app, openid)) != "consent_mediation":
        assert step in ANSWERS and asked.count(step) < 2, f"stuck at {step!r} after {asked}"
        # A choice of several (the demand) is closed with 选好了 once answered.
        answer = "选好了" if step == "demand" and step in asked else ANSWERS[step]
        asked.append(step)
        response = await account.post(http, message_xml("text", openid, Content=answer))
        assert response.status_code == 200


async def test_long_reply_is_shortened_without_customer_service(sqlite_settings: Any) -> None:
    account = Account()
    openid = "o_long_nocs_00000000000001"
    async with wechat_app(sqlite_settings, wechat_settings()) as (app, http):
        await _summary_with_long_problem(app, account, http, openid)
        response = await account.post(http, message_xml("text", openid, Content="/no"))
        content = account.open_reply(response)["Content"]
        assert len(content.encode()) <= 2048
        assert "…" in content and "确认提交</a>" in content  # the question and its links survive


async def test_long_reply_continues_by_customer_service(
    sqlite_settings: Any, double: WechatDouble
) -> None:
    account = Account()
    openid = "o_long_cs_0000000000000001"
    async with wechat_app(sqlite_settings, wechat_settings(double, customer_service=True)) as (
        app,
        http,
    ):
        await _summary_with_long_problem(app, account, http, openid)
        response = await account.post(http, message_xml("text", openid, Content="/no"))
        first = account.open_reply(response)["Content"]
        assert len(first.encode()) <= 2048
        async with app.state.sessions() as session:
            rows = list((await session.execute(select(OutboxMessage))).scalars())
            for row in rows:
                row.next_attempt_at = row.created_at  # skip the 1 s ordering delay
            await session.commit()
        sent = 0
        while done := await app.state.outbox.run_once():  # one user's rows: one per pass
            sent += done
        assert sent == len(rows) >= 1
        rest = double.sent_texts(openid)
        whole = first + "\n" + "\n".join(rest)
        assert "耳机是假的，" * 300 in whole.replace("\n", "") and "确认提交</a>" in whole
        assert all(len(t.encode()) <= 2048 for t in rest)


async def test_push_outside_48_hours_is_recorded_on_the_case(
    sqlite_settings: Any, double: WechatDouble
) -> None:
    account = Account()
    openid = "o_push_0000000000000000001"
    async with wechat_app(sqlite_settings, wechat_settings(double, customer_service=True)) as (
        app,
        http,
    ):
        await _summary_with_long_problem(app, account, http, openid)
        for text in ("/no", "/confirm"):
            await account.post(http, message_xml("text", openid, Content=text))
        async with app.state.sessions() as session:
            case = (await session.execute(select(Case))).scalar_one()
        # A status push from the back office, written as the pipeline writes replies.
        async with app.state.sessions() as session, session.begin():
            session.add(
                OutboxMessage(
                    topic="reply:wechat",
                    key="push:1",
                    payload={
                        "recipient_id": openid,
                        "text": "您的投诉已受理",
                        "buttons": [{"title": "主菜单", "payload": "/menu"}],
                        "custom": {"case_no": case.case_no},
                    },
                )
            )
            session.add(
                OutboxMessage(
                    topic="reply:wechat",
                    key="push:2",
                    payload={"recipient_id": openid, "text": "第二条", "buttons": [], "custom": {}},
                )
            )
        double.send_errors = [45015, -1]
        assert await app.state.outbox.run_once() == 2
        async with app.state.sessions() as session:
            rows = {r.key: r for r in (await session.execute(select(OutboxMessage))).scalars()}
            events = list(
                (
                    await session.execute(
                        select(CaseEvent).where(CaseEvent.kind == "channel_unreachable")
                    )
                ).scalars()
            )
        assert rows["push:1"].status == "blocked"  # not deliverable, not retried forever
        assert (
            rows["push:2"].status == "pending" and rows["push:2"].attempts == 1
        )  # -1: busy, retry
        [event] = events
        assert event.case_id == case.id
        assert event.detail["errcode"] == 45015 and "could not reach" in event.detail["message"]


async def test_the_access_token_is_shared_and_refreshed_once_rejected(
    sqlite_settings: Any, double: WechatDouble
) -> None:
    wechat = wechat_settings(double, customer_service=True)
    async with wechat_app(sqlite_settings, wechat) as (app, _http):
        api = app.state.wechat.api
        await api.send_text("o_token_a", "一")
        await api.send_text("o_token_a", "二")
        assert len(double.calls_to("/cgi-bin/token")) == 1
        async with app.state.sessions() as session:
            [row] = list((await session.execute(select(WechatAccessToken))).scalars())
        assert row.access_token in double.valid_tokens
    # A second worker (a new app on the same database) reuses the stored token.
    async with wechat_app(sqlite_settings, wechat) as (app, _http):
        await app.state.wechat.api.send_text("o_token_a", "三")
        assert len(double.calls_to("/cgi-bin/token")) == 1
        # WeChat revokes it (someone fetched another): one refresh, then the call succeeds.
        double.revoke_tokens()
        await app.state.wechat.api.send_text("o_token_a", "四")
        assert len(double.calls_to("/cgi-bin/token")) == 2
    assert double.sent_texts("o_token_a") == ["一", "二", "三", "四"]


async def test_concurrent_workers_fetch_one_token(settings: Any, double: WechatDouble) -> None:
    wechat = wechat_settings(double, customer_service=True)
    async with (
        wechat_app(settings, wechat) as (app_a, _a),
        wechat_app(settings, wechat) as (app_b, _b),
    ):
        apis = [app_a.state.wechat.api, app_b.state.wechat.api]
        await asyncio.gather(
            *(api.send_text("o_token_b", str(i)) for i, api in enumerate(apis * 3))
        )
    assert len(double.calls_to("/cgi-bin/token")) == 1
    assert sorted(double.sent_texts("o_token_b")) == ["0", "1", "2", "3", "4", "5"]
