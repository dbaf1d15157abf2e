"""A photo checked over Telegram: "being read" at once, the verdict as a normal message when
the reading is done, and its one-tap report filed with the label's fields filled in."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bot.db.models import Case, Conversation
from tests.factories import png_bytes
from tests.integrations.telegram_double import (
    BotApiDouble,
    FakeUser,
    Harness,
    joined,
    running_double,
    telegram_app,
)
from tests.photo_reader import ScriptedReader, label

pytestmark = pytest.mark.databases("sqlite")
VALID = "2024010914000001"  # well formed; the app's empty registry does not know it
# The report's remaining questions once the verdict filled in the maker and the facts.
REPORT_ANSWERS = {
    "target_location": "某电商平台的店铺",
    "seen": "2026年11月网上购物时看到",
    "own_dispute": "/no",
    "photos": "/done",
    "relation": "none",
    "identity": "anonymous",
    "reward": "/no",  # asked of every reporter, anonymous ones too
    "confirm": "/confirm",
}
CHOICES = {"none", "anonymous"}


async def step_of(tg: Harness) -> str | None:
    async with tg.app.state.sessions() as session:
        conversation = (await session.execute(select(Conversation))).scalar_one()
    return conversation.state.get("step")


@pytest.fixture
def double() -> Iterator[BotApiDouble]:
    with running_double() as double:
        yield double


async def settle(app: Any) -> None:
    for _ in range(250):
        if not app.state.photos.tasks and app.state.photos.taken == 0:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the photo was never answered")


async def test_a_label_photo_gets_the_verdict_and_a_one_tap_report(
    settings: Any, double: BotApiDouble
) -> None:
    photo = png_bytes(21)
    reader = ScriptedReader(seconds=0.3)
    reader.script(photo, label(VALID, model="PB-2000", maker="杭州正泰科电子有限公司"))
    async with telegram_app(settings, double, photo_reader=reader) as tg:
        user = FakeUser(double, 779001, language_code="zh-hans")
        assert "请拍一张照片" in joined(await tg.say(user.text("/photo")))
        sent = await tg.say(user.photo(photo))
        assert "正在识别，请稍等" in joined(sent)
        await settle(tg.app)
        await tg.deliver()
        verdict = double.sent(user.id)[-1]
        assert f"3C证书编号：{VALID}（识别把握 96%）" in verdict.text
        assert "没有查到这个编号" in verdict.text
        assert "/checked:report" in verdict.callback_data

        sent = await tg.say(user.callback("/checked:report"))
        summary = submitted = ""
        for _ in range(12):
            step = await step_of(tg)
            if step is None:
                submitted = joined(sent)
                break
            if step == "confirm":
                summary = joined(sent)
            answer = REPORT_ANSWERS[step]
            sent = await tg.say(
                user.callback(answer)
                if answer.startswith("/") or answer in CHOICES
                else user.text(answer)
            )
        assert "杭州正泰科电子有限公司" in summary

        async with tg.app.state.sessions() as session:
            case = (
                await session.execute(select(Case).options(selectinload(Case.evidence)))
            ).scalar_one()
        assert case.case_no in submitted
        assert case.kind == "report" and case.channel == "telegram"
        assert case.fields["target_name"] == "杭州正泰科电子有限公司"
        assert VALID in case.fields["facts"] and "PB-2000" in case.fields["facts"]
        assert len(case.evidence) == 1  # the photo that was checked
