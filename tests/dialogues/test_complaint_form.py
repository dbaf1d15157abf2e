"""The complaint form as the user meets it: several fields from one answer, values asked again
until valid, English. Filing, photos and a restart go through the app in
``tests/bot/test_complaint_flow.py``."""

from __future__ import annotations

import pytest

from tests.bot.test_complaint_flow import HAPPY
from tests.dialogues.engine_double import EngineChat, run


async def test_one_answer_can_fill_several_fields() -> None:
    chat = EngineChat()
    await chat.say("/complaint")
    await chat.say("在京东花了399买的耳机")
    assert chat.awaiting == "brand"
    asked = []
    answers = {
        "brand": "/skip",
        "model_no": "/skip",
        "merchant": "某某店",
        "merchant_address": "https://x.example/1",
        "order_no": "/skip",
        "purchase_date": "昨天",
        "problem": "是假货，做工很差",
        "demand": "/choice:refund",
        "photos": "/skip",
        "name": "李四",
        "phone": "13912345678",
        "address": "上海市浦东新区世纪大道100号",
        "consent_publish": "/no",
        "consent_mediation": "/yes",
    }
    while chat.awaiting not in (None, "confirm"):
        asked.append(chat.awaiting)
        await chat.say(answers[chat.awaiting])
        if chat.awaiting == "demand":
            await chat.say("/done")
    assert "platform" not in asked and "amount" not in asked
    assert (
        "· 购买平台：京东" in chat.text
        and "· 金额：¥399" in chat.text
        and "· 商品：耳机" in chat.text
    )
    assert "· 购买日期：2026-11-26" in chat.text


@pytest.mark.parametrize(
    ("step_index", "bad", "hint"),
    [
        (15, "12345", "手机号格式不对"),
        (15, "我不想说", "手机号格式不对"),
        (9, "很多钱", "没看懂金额"),
        (8, "下下个月", "没看懂这个日期"),
        (8, "2026-12-25", "不能晚于今天"),
        (14, "1", "真实姓名"),
        (17, "随便", "同意"),
    ],
)
async def test_invalid_values_are_asked_again(step_index: int, bad: str, hint: str) -> None:
    chat = EngineChat()
    await run(chat, HAPPY[:step_index])
    awaiting = chat.awaiting
    await chat.say(bad)
    assert chat.awaiting == awaiting
    assert hint in chat.text
    # The right answer then goes through.
    await chat.say(HAPPY[step_index][0])
    assert chat.awaiting == HAPPY[step_index][1]


async def test_english_locale() -> None:
    chat = EngineChat(locale="en-US")
    await chat.say("hi")
    assert "File a complaint" in chat.text
    await chat.say("1")
    assert "What did you buy" in chat.text
    await chat.say("cancel")
    assert "cancelled" in chat.text
