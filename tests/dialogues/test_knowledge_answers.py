"""Advice by meaning: category articles in zh and en, the right door for questions outside
the regulator's remit, and typical cases in chat."""

from __future__ import annotations

from datetime import date

from dialogues.knowledge_port import TypicalCase
from tests.dialogues.engine_double import EngineChat, sample_knowledge


class Shelf:
    """Published typical cases in memory, newest first (the app reads them from its database,
    tests/bot/test_typical_cases.py)."""

    def __init__(self, cases: list[TypicalCase]) -> None:
        self.cases = sorted(cases, key=lambda c: c.published_on, reverse=True)

    async def latest(self, *, category: str | None, limit: int) -> list[TypicalCase]:
        return [c for c in self.cases if category in (None, c.category)][:limit]


def case(n: int, category: str, title: str, summary: str, day: int) -> TypicalCase:
    return TypicalCase(
        id=n,
        category=category,
        title={"zh": title, "en": f"EN {title}"},
        summary={"zh": summary, "en": f"EN {summary}"},
        published_on=date(2026, 11, day),
    )


SHELF = [
    case(
        1,
        "chargers",
        "夜市销售无3C充电宝被查处",
        "某夜市摊位销售无3C标志的充电宝，已被责令停止销售。",
        10,
    ),
    case(
        2,
        "shoes",
        "网店销售假冒运动鞋被立案",
        "某网店销售假冒知名品牌运动鞋，经商标权利人辨认后立案。",
        20,
    ),
    case(
        3, "chargers", "虚标容量充电宝下架", "一款标称20000毫安的充电宝实测不足一半，已下架。", 25
    ),
]


async def test_fake_nike_shoes_get_the_shoes_article_in_chinese() -> None:
    chat = EngineChat(knowledge=await sample_knowledge())
    await chat.say("假的耐克鞋怎么辨别")
    answer = chat.last[0].text
    assert answer.startswith("鞋和运动服装怎么辨别")
    assert "怎么查" in answer and "要保存的证据" in answer and "12315" in answer
    assert "（一般建议）" in answer and "出处：" in answer
    assert "不能确定" not in chat.text


async def test_fake_nike_shoes_get_the_shoes_article_in_english() -> None:
    chat = EngineChat(knowledge=await sample_knowledge(), locale="en")
    await chat.say("How do I tell fake Nike shoes?")
    answer = chat.last[0].text
    assert answer.startswith("Spotting fakes: shoes and sportswear")
    assert "How to check:" in answer and "Evidence to keep:" in answer and "12315" in answer
    assert "(general advice)" in answer and "Source:" in answer
    assert chat.awaiting is None  # an answer, not a complaint form


async def test_a_category_named_by_meaning_without_an_intent() -> None:
    chat = EngineChat(knowledge=await sample_knowledge())
    await chat.say("蓝帽子是什么")
    assert chat.last[0].text.startswith("保健食品（蓝帽子）怎么辨别")
    assert "国食健注" in chat.text


async def test_fake_cigarettes_go_to_12313_not_a_complaint() -> None:
    chat = EngineChat(knowledge=await sample_knowledge())
    await chat.say("我要投诉假烟")
    assert "12313" in chat.text and chat.awaiting is None
    assert "不归市场监管部门" in chat.text
    english = EngineChat(knowledge=await sample_knowledge(), locale="en")
    await english.say("where do I report fake cigarettes")
    assert "12313" in english.text and "tobacco monopoly" in english.text


async def test_a_smoke_alarm_is_ours_not_tobacco() -> None:
    chat = EngineChat(knowledge=await sample_knowledge())
    await chat.say("烟雾报警器怎么辨别真假")
    assert chat.last[0].text.startswith("消防产品怎么辨别") and "12313" not in chat.text


async def test_telecom_fraud_goes_to_the_police() -> None:
    chat = EngineChat(knowledge=await sample_knowledge())
    await chat.say("接到冒充客服的诈骗电话被骗转账了")
    assert "110" in chat.text and "96110" in chat.text and "（待核实）" in chat.text
    assert chat.awaiting is None


async def test_medical_emergency_and_price_doors() -> None:
    chat = EngineChat(knowledge=await sample_knowledge())
    await chat.say("需要叫救护车")
    assert "120" in chat.text
    await chat.say("超市不明码标价")
    assert "12315" in chat.text and "价格" in chat.text


async def test_off_topic_is_still_not_understood() -> None:
    chat = EngineChat(knowledge=await sample_knowledge())
    await chat.say("今天天气怎么样")
    assert "没太明白" in chat.text and "12315" not in chat.text


async def test_typical_cases_browsed_in_chat_latest_first() -> None:
    chat = EngineChat(knowledge=await sample_knowledge(cases=Shelf(SHELF)))
    await chat.say("最近有什么典型案例")
    text = chat.last[0].text
    assert text.index("虚标容量") < text.index("假冒运动鞋") < text.index("夜市销售")
    assert "2026年11月25日" in text


async def test_typical_cases_of_one_category() -> None:
    chat = EngineChat(knowledge=await sample_knowledge(cases=Shelf(SHELF)), locale="en")
    await chat.say("typical cases about power banks")
    text = chat.last[0].text
    assert "EN 虚标容量充电宝下架" in text and "EN 夜市销售无3C充电宝被查处" in text
    assert "运动鞋" not in text


async def test_a_category_answer_ends_with_its_latest_case() -> None:
    chat = EngineChat(knowledge=await sample_knowledge(cases=Shelf(SHELF)))
    await chat.say("充电宝怎么辨别真假")
    text = chat.last[0].text
    assert text.startswith("充电宝、充电器和数据线怎么辨别")
    assert "相关典型案例" in text and "虚标容量" in text and "夜市" not in text


async def test_no_cases_published_yet() -> None:
    chat = EngineChat(knowledge=await sample_knowledge())
    await chat.say("最近有什么典型案例")
    assert "暂时还没有发布的典型案例" in chat.text
    await chat.say("鞋子怎么辨别真假")
    assert "相关典型案例" not in chat.text
