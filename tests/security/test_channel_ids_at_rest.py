"""WeChat openids and Telegram user ids are never stored in clear, yet replies still reach them.

Every table is read back raw (no column type decrypts anything) after whole conversations that
file a complaint; the platform id must appear nowhere, while the conversation goes on under one
row and a case notice still arrives at the id at the platform double.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select, text

from bot.cases import case_as_dict, get_case
from bot.db.base import Base
from bot.db.models import Case, Conversation, import_all_models
from bot.db.models import InboundMessage as InboundRow
from bot.settings import SecuritySettings, Settings
from bot.workflow import transition
from dialogues.flows import all_flows
from tests.factories import COMPLAINT_ANSWERS
from tests.integrations.telegram_double import (
    BotApiDouble,
    FakeUser,
    file_case,
    running_double,
    telegram_app,
)
from tests.integrations.test_wechat_flow import WechatUser
from tests.integrations.wechat_double import (
    WechatDouble,
    double_server,  # noqa: F401  (the `double` fixture)
    wechat_app,
    wechat_settings,
)
from tests.security.test_pii_keys import weiquan

pytestmark = pytest.mark.filterwarnings(
    "ignore:Deprecated since version v22.2:telegram.warnings.PTBDeprecationWarning"
)

OPENID = "oQx7Z_secret_openid_4bT9kWq1"
TELEGRAM_ID = 5512340987


async def dump(app: Any) -> str:
    """Every row of every table as stored, one string."""
    import_all_models()
    lines = []
    async with app.state.sessions() as session:
        for table in Base.metadata.sorted_tables:
            rows = (await session.execute(select(text("*")).select_from(table))).all()
            lines += [f"{table.name}: {tuple(row)!r}" for row in rows]
    return "\n".join(lines)


def appears(secret: str, raw: str) -> bool:
    return secret in raw or json.dumps(secret)[1:-1] in raw


async def conversations(app: Any, channel: str) -> list[Conversation]:
    async with app.state.sessions() as session:
        stmt = select(Conversation).where(Conversation.channel == channel)
        return list((await session.execute(stmt)).scalars())


async def accept(app: Any, case_no: str) -> None:
    """Staff accept the case: its notice goes out through the outbox."""
    async with app.state.sessions() as session, session.begin():
        case = await get_case(session, case_no)
        assert case is not None
        await transition(
            session,
            case,
            "accepted",
            actor="staff:li",
            now=datetime.now(UTC),
            handoff=app.state.handoff,
        )


# How a WeChat consumer answers a step, where it differs from COMPLAINT_ANSWERS: menu links
# clicked, and WeChat's own words for done.
WECHAT_ANSWERS: dict[str, list[tuple[str, str]]] = {
    "product": [("say", "蓝牙耳机")],
    "brand": [("say", "索尼")],
    "platform": [("click", "京东")],
    "merchant": [("say", "某某数码专营店")],
    "merchant_address": [("say", "https://shop.example.com/123")],
    "purchase_date": [("say", "2026-11-20")],
    "amount": [("say", "399元")],
    "problem": [("say", "耳机是假的，序列号官网查不到")],
    "demand": [("click", "退款"), ("click", "选好了")],
    "photos": [("say", "完成")],
    "name": [("say", "张三")],
    "phone": [("say", "13812345678")],
    "address": [("say", "北京市朝阳区建国路1号")],
    "id_type": [("click", "暂不提供")],
    "consent_publish": [("say", "1")],
    "consent_mediation": [("click", "不同意")],
}


async def wechat_complaint(app: Any, user: WechatUser) -> str:
    """File a complaint over WeChat, answering whichever step the form is at."""
    await user.send("event", Event="CLICK", EventKey="/complaint")
    for _ in range(40):
        [conversation] = await conversations(app, "wechat")
        step = conversation.state.get("step")
        if step == "confirm":
            break
        assert step is not None, conversation.state
        for how, what in WECHAT_ANSWERS.get(step, [("say", COMPLAINT_ANSWERS[step])]):
            await (user.click(what) if how == "click" else user.say(what))
    assert step == "confirm", step
    submitted = await user.click("确认提交")
    assert "TS" in submitted, submitted
    return submitted[submitted.index("TS") :][:16]


async def test_wechat_openid_is_not_stored_and_notices_still_arrive(
    settings: Settings, double: WechatDouble
) -> None:
    async with wechat_app(settings, wechat_settings(double)) as (app, http):
        user = WechatUser(http, OPENID)
        assert "您好" in await user.send("event", Event="subscribe")
        case_no = await wechat_complaint(app, user)
        await accept(app, case_no)
        assert await app.state.outbox.run_once() >= 1
        assert any(case_no in t for t in double.sent_texts(OPENID))

        raw = await dump(app)
        assert case_no in raw  # the dump does hold the conversation
        assert not appears(OPENID, raw)
        [conversation] = await conversations(app, "wechat")
        assert conversation.sender_id.startswith("h:") and conversation.address == OPENID
        assert conversation.message_count >= 18  # every message, one conversation
        async with app.state.sessions() as session:
            case = await get_case(session, case_no)
        assert case is not None and case.sender_id == conversation.sender_id
        assert case_as_dict(case)["sender_id"] == conversation.sender_id  # what staff see


@pytest.fixture
def tg_double() -> Iterator[BotApiDouble]:
    with running_double() as double:
        yield double


async def test_telegram_user_id_is_not_stored_and_notices_still_arrive(
    settings: Settings, tg_double: BotApiDouble
) -> None:
    async with telegram_app(settings, tg_double) as tg:

        async def step_of() -> str | None:
            [conversation] = await conversations(tg.app, "telegram")
            return conversation.state.get("step")

        user = FakeUser(tg_double, TELEGRAM_ID, language_code="en")
        case_no = await file_case(tg.say, step_of, user, all_flows()["complaint"])
        before = len(tg_double.sent(TELEGRAM_ID))
        await accept(tg.app, case_no)
        await tg.deliver()
        notices = tg_double.sent(TELEGRAM_ID)[before:]
        assert any(case_no in c.text for c in notices)

        raw = await dump(tg.app)
        assert case_no in raw
        assert not appears(str(TELEGRAM_ID), raw)
        [conversation] = await conversations(tg.app, "telegram")
        assert conversation.sender_id.startswith("h:")
        assert conversation.address == str(TELEGRAM_ID)


async def test_a_clear_id_conversation_goes_on_and_rotation_hashes_it(
    settings: Settings, double: WechatDouble
) -> None:
    legacy_event = f"ev:{OPENID}:1764000000:subscribe"
    async with wechat_app(settings, wechat_settings(double)) as (app, http):
        # As stored before ids were hashed: the conversation, an event and a case under the id.
        async with app.state.sessions() as session, session.begin():
            old = Conversation(channel="wechat", sender_id=OPENID, state={}, message_count=1)
            session.add(old)
            await session.flush()
            session.add(
                InboundRow(
                    channel="wechat",
                    channel_message_id=legacy_event,
                    conversation_id=old.id,
                    kind="event",
                )
            )
        user = WechatUser(http, OPENID)
        case_no = await wechat_complaint(app, user)
        [conversation] = await conversations(app, "wechat")
        assert conversation.id == old.id and conversation.sender_id == OPENID  # still used
        async with app.state.sessions() as session:
            case = await get_case(session, case_no)
        assert case is not None and case.sender_id == OPENID
        assert OPENID not in case_as_dict(case)["sender_id"]  # staff see it masked

    done = weiquan(settings, "keys", "rotate")
    assert done.returncode == 0, done.stdout + done.stderr

    async with wechat_app(settings, wechat_settings(double)) as (app, http):
        raw = await dump(app)
        assert not appears(OPENID, raw)
        [conversation] = await conversations(app, "wechat")
        assert conversation.id == old.id and conversation.sender_id.startswith("h:")
        assert conversation.address == OPENID
        async with app.state.sessions() as session:
            case = await get_case(session, case_no)
            events = (
                await session.execute(
                    select(func.count()).where(InboundRow.channel_message_id.like("ev:%"))
                )
            ).scalar_one()
            cases = (await session.execute(select(func.count()).select_from(Case))).scalar_one()
        assert case is not None and case.sender_id == conversation.sender_id
        assert events >= 1 and cases == 1
        # The next message continues that conversation; the notice reaches the openid.
        user = WechatUser(http, OPENID)
        await user.say("我的投诉怎么样了")
        assert case_no in user.reply
        [again] = await conversations(app, "wechat")
        assert again.id == old.id and again.message_count == conversation.message_count + 1
        await accept(app, case_no)
        assert await app.state.outbox.run_once() >= 1
        assert any(case_no in t for t in double.sent_texts(OPENID))
        assert not appears(OPENID, await dump(app))


def test_a_placeholder_lookup_key_is_refused_in_production() -> None:
    def production(lookup_key: str) -> Settings:
        security = SecuritySettings(
            secret_key="a-real-secret-" + "x" * 30, pii_key="A" * 43, lookup_key=lookup_key
        )
        return Settings(environment="production", security=security)

    assert production("another-real-secret-" + "y" * 20).security.lookup_key
    with pytest.raises(ValidationError, match="WEIQUAN_LOOKUP_KEY"):
        production("changeme")
