"""The rule fallback's intents: what the bot understands while Rasa is not up."""

from __future__ import annotations

import unicodedata
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlu.dates import SHANGHAI
from nlu.lexicon import load_yaml
from nlu.rules import KeywordTable, RuleParser
from nlu.types import INTENTS, Parse

NOW = datetime(2026, 10, 7, 15, 0, tzinfo=SHANGHAI)
PARSER = RuleParser()


def parse(text: str) -> Parse:
    return PARSER.parse(text, NOW)


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        # greet
        ("你好", "greet"),
        ("您好，在吗？", "greet"),
        ("在吗", "greet"),
        ("hi", "greet"),
        ("Hello!", "greet"),
        # goodbye / thank
        ("再见", "goodbye"),
        ("拜拜~", "goodbye"),
        ("88", "goodbye"),
        ("谢谢", "thank"),
        ("好的谢谢", "thank"),
        ("太感谢了！", "thank"),
        ("thanks", "thank"),
        # affirm / deny
        ("是的", "affirm"),
        ("好的呀!", "affirm"),
        ("对", "affirm"),
        ("嗯嗯", "affirm"),
        ("确认", "affirm"),
        ("yes", "affirm"),
        ("OK", "affirm"),
        ("👍", "affirm"),
        ("不是", "deny"),
        ("不对", "deny"),
        ("no", "deny"),
        ("不是的", "deny"),
        # cancel / human / help
        ("取消", "cancel"),
        ("算了", "cancel"),
        ("算了吧，不弄了", "cancel"),
        ("不投诉了", "cancel"),
        ("cancel", "cancel"),
        ("转人工", "human_handoff"),
        ("我要找真人", "human_handoff"),
        ("人工客服", "human_handoff"),
        ("你能做什么", "help"),
        ("help", "help"),
        # complain
        ("我要投诉", "complain"),
        ("我在京东买的耳机是假货", "complain"),
        ("我买的耳机不是正品", "complain"),
        ("买到假货了怎么办", "complain"),
        ("商家客服不给退款", "complain"),
        ("你好，我想投诉", "complain"),
        ("好的，我要投诉", "complain"),
        ("I want to complain about a fake charger", "complain"),
        # report
        ("我要举报", "report"),
        ("有人卖假货", "report"),
        ("这家店在卖假茅台", "report"),
        ("我们小区有个店在卖三无插线板", "report"),
        # questions
        ("举报有奖励吗", "ask_reward"),
        ("举报能拿多少奖金", "ask_reward"),
        ("证书2016010901123456", "check_ccc_cert"),
        ("帮我查一下3C证书 2016010901123456", "check_ccc_cert"),
        ("2016010901123456", "check_ccc_cert"),
        ("充电宝需要3C吗", "ask_ccc_required"),
        ("要不要CCC认证", "ask_ccc_required"),
        ("头盔必须有3C吗", "ask_ccc_required"),
        ("怎么辨别茅台真假", "ask_identify_fake"),
        ("怎么看是不是假的", "ask_identify_fake"),
        ("我买的口红是不是正品", "ask_identify_fake"),
        ("假一赔三怎么算", "ask_compensation"),
        ("能赔多少钱", "ask_compensation"),
        ("退一赔三", "ask_compensation"),
        ("食品能十倍赔偿吗", "ask_compensation"),
        ("我的投诉怎么样了", "case_status"),
        ("查询进度", "case_status"),
        ("TS20261127000042", "case_status"),
        ("ts20261127000042现在到哪一步了", "case_status"),
        ("投诉流程是什么", "ask_process"),
        ("需要什么材料", "ask_process"),
        ("怎么举报", "ask_process"),
        ("how long does it take", "ask_process"),
        # inform
        ("在京东花了399买的耳机", "inform"),
        ("13812345678", "inform"),
        ("上周五在拼多多买了个充电宝，花了八十九块", "inform"),
        ("淘宝", "inform"),
        ("不是，是淘宝", "deny"),
        ("不是京东，是天猫", "deny"),
        ("我要取消", "cancel"),
        ("我要找你们领导", "human_handoff"),
        ("你是机器人吗", "help"),
        ("这个插线板有没有3C", "ask_ccc_required"),
        ("老板说是正品，我怎么确认", "ask_identify_fake"),
        ("订单号 4312345678901234 商家不发货", "complain"),
        ("前几天在抖音直播间买了个口红，180块，用了过敏", "complain"),
        ("我在淘宝花了两千五买的戴森吹风机，感觉是假的", "complain"),
        ("帮我看看这个证书 2019011606123456 有效吗", "check_ccc_cert"),
        ("电动车电池是不是要有3C", "ask_ccc_required"),
        ("我想问下举报卖假酒的能拿到奖金吗", "ask_reward"),
        ("你们多久能处理完", "ask_process"),
        ("我叫王芳", "inform"),
    ],
)
def test_intent(text: str, intent: str) -> None:
    result = parse(text)
    assert result.intent == intent, result
    assert result.source == "rules"
    assert 0.5 <= result.confidence <= 1.0


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "😀😀😀",
        "\x00\x01\x02",
        "Привет, как дела",
        "this is it",
        "399",
        "讲个笑话吧",
        "商家取消了订单",  # 取消 about an order is not the user cancelling
    ],
)
def test_out_of_scope_is_low_confidence(text: str) -> None:
    result = parse(text)
    assert result.intent == "out_of_scope"
    assert result.confidence <= 0.3


def test_inform_carries_normalised_entities() -> None:
    result = parse("在京东花了399买的耳机")
    assert result.values("platform") == ["京东"]
    assert result.values("amount") == [399]
    assert result.values("product") == ["耳机"]
    amount = result.first("amount")
    assert amount is not None
    assert (amount.start, amount.end, amount.text) == (5, 8, "399")


def test_complaint_keeps_its_entities() -> None:
    result = parse("我上周五在拼多多买的充电宝是假的，花了八十九块，要退款")
    assert result.intent == "complain"
    assert result.values("date") == ["2026-10-02"]
    assert result.values("platform") == ["拼多多"]
    assert result.values("amount") == [89]


def test_strong_keyword_outranks_weak() -> None:
    strong, weak = parse("我要投诉"), parse("好像是山寨的")
    assert (strong.intent, weak.intent) == ("complain", "complain")
    assert strong.confidence > weak.confidence


def test_ascii_keywords_match_whole_words_only() -> None:
    assert parse("which one").intent == "out_of_scope"  # contains "hi"
    assert parse("Hi there").intent == "greet"


def test_full_width_and_case_are_folded() -> None:
    assert parse("充电宝要不要３Ｃ").intent == "ask_ccc_required"
    assert parse("CANCEL").intent == "cancel"


def test_very_long_text_is_handled() -> None:
    text = "我要投诉" + "啊" * 10_000
    result = parse(text)
    assert result.intent == "complain"
    assert result.text == text


def test_table_rejects_unknown_intents() -> None:
    data = dict(load_yaml("keywords.yml"))
    data["intents"] = {**data["intents"], "order_pizza": {"strong": ["披萨"]}}
    with pytest.raises(ValueError, match="order_pizza"):
        KeywordTable.from_data(data)


def test_keyword_table_only_names_known_intents() -> None:
    names = {rules.name for rules in PARSER.table.intents}
    assert names <= set(INTENTS)
    assert names == set(INTENTS) - {"inform", "out_of_scope"}


@settings(deadline=None, max_examples=300)
@given(st.text(max_size=500))
def test_parse_never_raises(text: str) -> None:
    result = parse(text)
    assert result.intent in INTENTS
    assert 0.0 <= result.confidence <= 1.0
    assert result.text == text
    for e in result.entities:
        assert text[e.start : e.end] == e.text


@settings(deadline=None, max_examples=20)
@given(st.text(min_size=1, max_size=100))
def test_parse_never_raises_on_huge_input(chunk: str) -> None:
    text = (chunk * (10_000 // len(chunk) + 1))[:10_000]
    result = parse(text)
    assert result.intent in INTENTS
    assert result.text == text


@given(
    st.text(
        alphabet=st.characters(
            categories=("So", "Sk", "Cc", "Cf", "Zs", "Po"), exclude_characters="👍"
        ),
        max_size=40,
    ).filter(
        # Enclosed letters such as 🄨 are letters in disguise (NFKC turns them into "(Y)").
        lambda s: not any(ch.isalnum() for ch in unicodedata.normalize("NFKC", s))
    )
)
def test_symbols_and_control_characters_are_out_of_scope(text: str) -> None:
    result = parse(text)
    assert result.intent == "out_of_scope"
    assert result.confidence <= 0.3
