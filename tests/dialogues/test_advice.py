"""Advice answers from the knowledge port, on their own and as digressions inside both forms."""

from __future__ import annotations

from datetime import date
from functools import cache
from typing import Any

import pytest

from bot.knowledge.base import KnowledgeBase
from bot.knowledge.service import KnowledgeService
from bot.pipeline import Pipeline
from dialogues.knowledge_port import Certificate
from integrations.ccc import sample
from integrations.ccc.service import CccService
from tests.dialogues.test_report_flow import OPENING
from tests.factories import chat_for, run


class SampleRegistry:
    """The bundled SAMPLE certificates in memory (no registry database needed here)."""

    async def get(self, cert_no: str) -> Certificate | None:
        return {c.cert_no: c for c in sample.generate(20)}.get(cert_no)


@cache
def knowledge_base() -> KnowledgeBase:
    return KnowledgeBase.load()


@pytest.fixture
def advised(app: Any) -> Any:
    """The app with its pipeline given the knowledge port (the wiring bot/app.py will do)."""
    old: Pipeline = app.state.pipeline
    app.state.pipeline = Pipeline(
        old.sessions,
        old.engine,
        old.understanding,
        old.normalizer,
        senders=old.channels.senders,
        handoff=old.actions.handoff,
        knowledge=KnowledgeService(
            CccService(SampleRegistry(), today=lambda: date(2026, 11, 27)), knowledge_base()
        ),
    )
    return app


async def test_questions_outside_a_form_are_answered_with_a_source(advised: Any) -> None:
    chat = chat_for(advised)
    await chat.say("怎么辨别假茅台？")
    assert "特供" in chat.text and "出处" in chat.text
    await chat.say("充电宝需要3C吗？")
    assert "3C" in chat.text or "CCC" in chat.text
    await chat.say("举报有奖励吗")
    assert "5%" in chat.text and "不能承诺" in chat.text


async def test_compensation_calculator(advised: Any) -> None:
    chat = chat_for(advised)
    await chat.say("买到假货能赔多少？花了100元")
    # 3 × 100 = 300 < 500, so 500, plus the 100 back.
    assert "退还货款 100 元" in chat.text and "500 元" in chat.text and "600 元" in chat.text
    await chat.say("买了假奶粉能赔多少？花了300元")
    # Food: 10 × 300 = 3000 ≥ 1000.
    assert "3,000 元" in chat.text and "3,300 元" in chat.text
    await chat.say("假的食品赔多少？花了50元")
    assert "1,000 元" in chat.text  # 10 × 50 = 500 < 1000


async def test_certificate_check_asks_for_the_number_when_missing(advised: Any) -> None:
    chat = chat_for(advised)
    await chat.say("/ccc")
    assert "证书编号" in chat.text
    await chat.say("2024010914000001")
    assert "2024010914000001" in chat.text


async def test_ccc_question_in_the_middle_of_a_complaint(advised: Any) -> None:
    chat = chat_for(advised)
    await run(chat, [("/complaint", "product"), ("充电宝", "brand"), ("/skip", "platform")])
    await chat.say("充电宝需要3C吗？")
    assert "我们继续" in chat.text and chat.awaiting == "platform"
    assert "在哪里买的" in chat.text
    await run(chat, [("京东", "merchant")])


async def test_question_without_a_question_mark_in_a_free_text_step(advised: Any) -> None:
    chat = chat_for(advised)
    await run(chat, [("/complaint", "product"), ("充电宝", "brand"), ("/skip", "platform")])
    await run(chat, [("京东", "merchant"), ("某某数码", "merchant_address")])
    # Colloquial questions ("要不要…啊") are answered, not taken as the shop's address.
    await chat.say("那个充电宝要不要3C认证啊")
    assert chat.awaiting == "merchant_address"
    assert "我们继续" in chat.text and "3C" in chat.text
    await chat.say("https://shop.example.com/9")
    assert chat.awaiting == "purchase_date"


async def test_reward_question_in_the_middle_of_a_report(advised: Any) -> None:
    chat = chat_for(advised)
    await run(chat, OPENING[:4])
    await chat.say("举报有奖励吗？")
    assert "5%" in chat.text and chat.awaiting == "violation"
    await run(chat, [("/choice:sanwu", "seen")])
    await run(chat, [("昨天在夜市", "facts"), ("夜市摊位在卖没有厂名厂址的充电器", "own_dispute")])
    await run(chat, [("/no", "photos"), ("/skip", "identity"), ("/choice:anonymous", "confirm")])
    for kept in ("某某 数码专营店", "shop12345.taobao.com", "三无产品"):
        assert kept in chat.text  # nothing collected was lost


async def test_without_the_knowledge_port_the_bot_says_it_does_not_know(app: Any) -> None:
    chat = chat_for(app)
    await chat.say("怎么辨别假茅台？")
    assert "转人工" in chat.text or "/human" in chat.buttons
