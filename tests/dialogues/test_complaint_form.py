"""The complaint form as the user meets it: several fields from one answer, values asked again
until valid, English. Filing, photos and a restart go through the app in
``tests/bot/test_complaint_flow.py``."""

from __future__ import annotations

import pytest

from tests.bot.test_complaint_flow import HAPPY
from tests.dialogues.engine_double import EngineChat, run
from tests.factories import COMPLAINT_ANSWERS as COMPLAINT


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
        "id_type": "/skip",
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
        (18, "随便", "同意"),
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


async def fill_until(chat: EngineChat, slot: str, answers: dict[str, str]) -> None:
    while chat.awaiting not in (None, "confirm", slot):
        await chat.say(answers[chat.awaiting])


ENGLISH = {
    **COMPLAINT,
    "product": "power bank",
    "merchant": "Gadget Store",
    "merchant_address": "https://shop.example.com/9",
    "problem": "It swelled up after two days and has no CCC mark.",
    "name": "Alex Smith",
    "address": "12 Nanjing Road, Huangpu, Shanghai",
}


@pytest.mark.parametrize(("lang", "no_thanks"), [("zh", "不用了"), ("en", "no thanks")])
async def test_the_id_document_is_offered_and_no_thanks_skips_it(lang: str, no_thanks: str) -> None:
    answers = ENGLISH if lang == "en" else COMPLAINT
    chat = EngineChat(locale="en-US" if lang == "en" else None)
    await chat.say("/complaint")
    await fill_until(chat, "id_type", answers)
    assert chat.awaiting == "id_type"
    offered = "may ask you for an ID document" if lang == "en" else "可能会请您提供身份证件"
    assert offered in chat.text
    await chat.say(no_thanks)  # no, not "cancel the complaint"
    assert chat.awaiting == "consent_publish" and "放弃" not in chat.text
    assert "give up" not in chat.text
    await fill_until(chat, "confirm", answers)
    await chat.say("/confirm")
    [case] = chat.office.cases
    assert case.fields["id_type"] == "" and "id_number" not in case.personal


async def test_an_id_number_given_early_is_not_asked_for_again() -> None:
    chat = EngineChat()
    await chat.say("我要投诉，我叫李四，身份证 11010519491231002X，在京东买的耳机是假的")
    await fill_until(chat, "confirm", COMPLAINT)
    await chat.say("/confirm")
    [case] = chat.office.cases
    assert case.fields["id_type"] == "resident_id"
    assert case.personal["id_number"] == "11010519491231002X"
