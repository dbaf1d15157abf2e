"""Handover requests: queued with a reason and a wait, cancellable; the bot quiet while held."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from bot.db.models import Conversation, HandoverRequest
from bot.handover import StaffHours, release, take
from bot.settings import ChatSettings
from tests.dialogues.engine_double import EngineChat
from tests.dialogues.office import Office
from tests.factories import chat_for


async def requests(app: Any) -> list[HandoverRequest]:
    async with app.state.sessions() as session:
        stmt = select(HandoverRequest).order_by(HandoverRequest.id)
        return list((await session.execute(stmt)).scalars())


async def test_asking_for_a_person_queues_with_reason_and_can_be_cancelled(app: Any) -> None:
    chat = chat_for(app)
    await chat.say("转人工")
    assert "排队" in chat.text and "分钟" in chat.text
    assert "/handover_cancel" in chat.buttons
    [request] = await requests(app)
    assert (request.reason, request.status) == ("asked", "queued")
    await chat.say("转人工")
    assert "已经在人工客服的队列中" in chat.text
    assert len(await requests(app)) == 1
    await chat.say("/handover_cancel")
    assert "已取消转人工" in chat.text
    [request] = await requests(app)
    assert request.status == "cancelled"


async def test_at_3_am_the_user_is_told_when_staff_work_not_a_wait(app: Any) -> None:
    night = datetime(2026, 11, 26, 19, 0, tzinfo=UTC)  # 03:00 on 27 Nov in Shanghai
    chat = chat_for(app, now=night)
    await chat.say("转人工")
    assert "排队" in chat.text and "分钟" not in chat.text
    assert "现在不是人工服务时间" in chat.text and "每天 9:00–21:00" in chat.text
    assert "09:00 上班后" in chat.text
    [request] = await requests(app)
    assert request.status == "queued"  # kept for the morning
    late = chat_for(app, now=datetime(2026, 11, 27, 14, 30, tzinfo=UTC), locale="en-GB")
    await late.say("I want a real person")  # 22:30: staff start again the next morning
    assert "minutes" not in late.text and "from 11-28 09:00" in late.text


async def test_a_deployment_sets_its_own_staff_hours() -> None:
    hours = ChatSettings(staff_hours="08:30-17:30", staff_days="working").hours()
    saturday = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, not a working day
    chat = EngineChat(Office(hours=hours), now=saturday)
    await chat.say("转人工")
    assert "工作日 8:30–17:30" in chat.text and "11-30 08:30 上班后" in chat.text
    assert "分钟" not in chat.text
    monday = EngineChat(Office(hours=hours), now=datetime(2026, 11, 30, 2, 0, tzinfo=UTC))
    await monday.say("转人工")
    assert "预计等待约" in monday.text and "人工服务时间" not in monday.text
    always = EngineChat(Office(hours=StaffHours.parse("00:00-24:00")), now=saturday)
    await always.say("I want a real person")
    assert "minutes" in always.text


@pytest.mark.parametrize(
    ("hours", "days"), [("9-21", "all"), ("21:00-09:00", "all"), ("09:00-21:00", "weekends")]
)
def test_bad_staff_hours_are_refused_at_start(hours: str, days: str) -> None:
    with pytest.raises(ValueError, match="staff_days|HH:MM-HH:MM|closing must come after"):
        ChatSettings(staff_hours=hours, staff_days=days)


async def test_safety_words_queue_first_and_keep_the_form(app: Any) -> None:
    other = chat_for(app)
    await other.say("/human")
    chat = chat_for(app)
    await chat.say("/complaint")
    await chat.say("充电宝")
    await chat.say("/skip")
    await chat.say("/skip")
    await chat.say("京东")
    await chat.say("某某店")
    await chat.say("https://x.example/1")
    await chat.say("/skip")
    await chat.say("2026-11-20")
    await chat.say("99元")
    await chat.say("充电宝充电时起火了，孩子手被烧伤")
    assert "120" in chat.text and "安全相关" in chat.text
    assert chat.awaiting == "demand"  # the answer was kept and the form goes on
    asked, safety = await requests(app)
    assert safety.reason == "safety" and safety.priority < asked.priority
    assert "5 分钟" in chat.text  # served before the earlier, ordinary request


async def test_two_misunderstandings_in_a_row_queue_for_a_person(app: Any) -> None:
    chat = chat_for(app)
    await chat.say("啦啦啦")
    assert not await requests(app)
    await chat.say("咕噜咕噜")
    [request] = await requests(app)
    assert request.reason == "not_understood"
    assert "转接人工" in chat.text


async def test_a_human_in_charge_keeps_the_bot_quiet(app: Any) -> None:
    chat = chat_for(app)
    await chat.say("转人工")
    [request] = await requests(app)
    now = datetime(2026, 11, 27, 10, 5, tzinfo=UTC)
    async with app.state.sessions() as session, session.begin():
        assert await take(session, request.id, staff="staff:li", now=now)
    assert await chat.say("你好，在吗") == []
    async with app.state.sessions() as session, session.begin():
        await release(session, request.id, now=now)
        conversation = (await session.execute(select(Conversation))).scalar_one()
        assert conversation.handover is None
    await chat.say("你好")
    assert "/complaint" in chat.buttons


async def test_english_handover() -> None:
    chat = EngineChat(locale="en")
    await chat.say("I want a real person")
    assert "queue" in chat.text and "minutes" in chat.text
