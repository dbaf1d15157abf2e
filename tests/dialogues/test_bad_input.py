"""Unsupported kinds, photos outside a flow (kept, carried, attached to own cases only)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from bot.db.models import Case, Evidence
from tests.dialogues.engine_double import EngineChat
from tests.dialogues.test_status import file_report
from tests.factories import chat_for


async def test_unsupported_kind_gets_a_short_explanation() -> None:
    chat = EngineChat()
    await chat.send("voice")
    assert "文字和图片" in chat.last[0].text


async def test_photo_outside_a_flow_is_kept_and_carried_into_a_new_report(app: Any) -> None:
    chat = chat_for(app)
    await chat.photo(seed=7)
    assert "属于哪份投诉或举报" in chat.text
    assert {"/complaint", "/report"} <= set(chat.buttons)
    await chat.say("/report")
    assert chat.awaiting == "target_type"
    async with app.state.sessions() as session:
        [photo] = list((await session.execute(select(Evidence))).scalars())
    assert photo.case_id is None


async def test_photo_outside_a_flow_can_be_added_to_an_own_case(app: Any) -> None:
    chat = chat_for(app)
    number = await file_report(chat)
    await chat.photo(seed=8)
    assert f"/attach:{number}" in chat.buttons
    await chat.say(f"/attach:{number}")
    assert re.search(r"已把 1 张照片补充到 JB\d{14}", chat.text)
    async with app.state.sessions() as session:
        case = (await session.execute(select(Case))).scalar_one()
        [photo] = list((await session.execute(select(Evidence))).scalars())
    assert photo.case_id == case.id


async def test_photo_cannot_be_added_to_someone_elses_case(app: Any) -> None:
    number = await file_report(chat_for(app))
    chat = chat_for(app)
    await chat.photo(seed=9)
    await chat.say(f"/attach:{number}")
    assert "不在您名下" in chat.text
