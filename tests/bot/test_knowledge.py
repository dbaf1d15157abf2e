"""Knowledge base retrieval: the right entry for everyday questions, honest don't-know else."""

from __future__ import annotations

from functools import cache

import pytest

from bot.knowledge.base import KnowledgeBase, load_entries
from bot.knowledge.service import KnowledgeService, load_knowledge_base
from dialogues.knowledge_port import Certificate
from integrations.ccc import sample
from integrations.ccc.service import CccService


@cache
def kb() -> KnowledgeBase:
    return KnowledgeBase.load()


@pytest.mark.parametrize(
    ("question", "entry"),
    [
        ("买到假货怎么赔偿", "fraud_compensation"),
        ("卖假货的商家要赔多少钱？", "fraud_compensation"),
        ("食品过期了能赔多少", "food_compensation"),
        ("网购七天无理由退货", "seven_day_return"),
        ("充电宝怎么辨别真假", "identify_power_bank"),
        ("移动电源要3C吗", "identify_power_bank"),
        ("茅台特供是真的吗", "identify_liquor"),
        ("口红是不是假的", "identify_cosmetics"),
        ("怎么投诉", "complaint_process"),
        ("投诉和举报有什么区别", "complaint_vs_report"),
        ("举报有奖励吗，能拿多少钱", "reward_rules"),
        ("How do I spot a fake power bank?", "identify_power_bank"),
        ("who cannot get a reward", "reward_exclusions"),
        ("how to check a CCC certificate", "ccc_verify"),
    ],
)
def test_everyday_questions_find_the_right_entry(question: str, entry: str) -> None:
    answer = kb().ask(question)
    assert answer.found and answer.entry_id == entry
    assert answer.source and answer.body["zh"] and answer.body["en"]


@pytest.mark.parametrize("question", ["今天天气怎么样", "股票怎么买", "你好", "", "？？？"])
def test_off_topic_questions_get_dont_know_and_a_human(question: str) -> None:
    answer = kb().ask(question)
    assert not answer.found and answer.offer_human


def test_synonyms_reach_the_same_entry() -> None:
    assert (
        kb().ask("山寨货能索赔吗").entry_id
        == kb().ask("假货能赔偿吗").entry_id
        == "fraud_compensation"
    )


def test_every_entry_has_a_source_and_both_languages() -> None:
    entries = load_entries()
    assert len(entries) >= 15
    for entry in entries:
        assert entry.source
        assert set(entry.title) == set(entry.body) == {"zh", "en"}


def test_reward_entry_states_levels_and_never_promises_an_amount() -> None:
    entry = kb().get("reward_rules")
    assert entry is not None and entry.rule is not None
    levels = [(lv["percent"], lv["minimum_yuan"]) for lv in entry.rule["levels"]]
    assert levels == [(5, 5000), (3, 3000), (1, 1000)]
    assert entry.rule["cap_yuan"] == 1_000_000
    assert "无法事先承诺" in entry.body["zh"] and "no amount can be promised" in entry.body["en"]


def test_compensation_rules_carry_the_legal_figures() -> None:
    fraud, food = kb().get("fraud_compensation"), kb().get("food_compensation")
    assert fraud is not None and fraud.rule == {
        "refund_price": True,
        "multiplier": 3,
        "minimum_yuan": 500,
    }
    assert food is not None and food.rule is not None
    assert (food.rule["multiplier"], food.rule["loss_multiplier"], food.rule["minimum_yuan"]) == (
        10,
        3,
        1000,
    )


class _Registry:
    async def get(self, cert_no: str) -> Certificate | None:
        return {c.cert_no: c for c in sample.generate(20)}.get(cert_no)


async def test_service_answers_every_port_method() -> None:
    service = KnowledgeService(CccService(_Registry()), await load_knowledge_base())
    assert (await service.ask("怎么投诉")).found
    assert (await service.check_certificate("2024010914000001")).found
    assert (await service.ccc_required("充电宝")).product_id == "power_bank"
    assert (await service.check_listing("充电宝 证书2024010914000001")).certificates
