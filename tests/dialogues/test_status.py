"""Status replies: own cases listed, foreign and unknown numbers answered alike, claims."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.dialogues.test_report_flow import OPENING
from tests.factories import chat_for, run


async def file_report(chat: Any, phone: str = "13912345678") -> str:
    turns = [*OPENING, ("/skip", "relation"), ("/choice:none", "identity")]
    turns += [("/choice:real_name", "reward"), ("/no", "name")]
    await run(chat, [*turns, ("王五", "phone"), (phone, "confirm")])
    await chat.say("/confirm")
    found = re.search(r"JB\d{14}", chat.text)
    assert found
    return found.group(0)


@pytest.mark.databases("sqlite", "postgres")
async def test_own_cases_are_listed_with_status_and_deadline(app: Any) -> None:
    chat = chat_for(app)
    await chat.say("我的投诉怎么样了")
    assert "还没有提交过" in chat.text
    number = await file_report(chat)
    await chat.say("我的投诉怎么样了")
    assert number in chat.text
    assert "已收到，待处理" in chat.text and "2026-11-27" in chat.text
    assert "2026-12-18" in chat.text  # next deadline: verification due
    await chat.say(f"{number} 进度")
    assert number in chat.text and chat.last[0].custom["case_no"] == number


async def test_foreign_and_unknown_numbers_get_the_same_reply(app: Any) -> None:
    owner = chat_for(app)
    number = await file_report(owner)
    stranger = chat_for(app)
    await stranger.say(number)
    foreign = stranger.text.replace(number, "<n>")
    unknown_no = "JB20261127009999"
    await stranger.say(unknown_no)
    unknown = stranger.text.replace(unknown_no, "<n>")
    assert foreign == unknown
    assert "王五" not in foreign and "1391" not in foreign


async def test_case_from_another_channel_is_claimed_with_its_whole_phone_number(app: Any) -> None:
    number = await file_report(chat_for(app, channel="wechat"), phone="13912345678")
    chat = chat_for(app, channel="telegram")
    await chat.say(number)
    assert "完整手机号" in chat.text
    await chat.say("5678")  # the last four digits are no longer enough, and cost no try
    assert "不要只发其中几位" in chat.text
    await chat.say("13912340000")
    assert "还可以再试 4 次" in chat.text
    await chat.say("+86 139-1234-5678")  # the project's phone normaliser: +86, dashes, spaces
    assert "认领成功" in chat.text and number in chat.text
    await chat.say("我的举报怎么样了")
    assert number in chat.text


async def test_five_wrong_numbers_lock_the_claim(app: Any) -> None:
    number = await file_report(chat_for(app, channel="wechat"))
    chat = chat_for(app, channel="telegram")
    await chat.say(number)
    for wrong in ("13900000000", "13911111111", "13922222222", "13933333333", "13944444444"):
        await chat.say(wrong)
    assert "认领已暂时锁定" in chat.text
    await chat.say(number)
    await chat.say("13912345678")  # the right number, but the case is locked
    assert "认领已暂时锁定" in chat.text
    await chat.say("我的举报怎么样了")
    assert number not in chat.text
