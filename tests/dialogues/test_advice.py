"""Advice answers from the knowledge port, on their own and as digressions inside both forms."""

from __future__ import annotations

from tests.dialogues.engine_double import EngineChat, run, sample_knowledge
from tests.dialogues.test_report_flow import OPENING


async def advised() -> EngineChat:
    """A chat whose engine reads the knowledge port: the sample registry and knowledge base."""
    return EngineChat(knowledge=await sample_knowledge())


async def test_questions_outside_a_form_are_answered_with_a_source() -> None:
    chat = await advised()
    await chat.say("怎么辨别假茅台？")
    assert "特供" in chat.text and "出处" in chat.text
    await chat.say("充电宝需要3C吗？")
    answer = chat.last[0].text  # the menu after it names 3C too
    assert "3C" in answer or "CCC" in answer
    await chat.say("举报有奖励吗")
    assert "5%" in chat.text and "不能承诺" in chat.text


async def test_compensation_calculator() -> None:
    chat = await advised()
    await chat.say("买到假货能赔多少？花了100元")
    # 3 × 100 = 300 < 500, so 500, plus the 100 back.
    assert "退还货款 100 元" in chat.text and "500 元" in chat.text and "600 元" in chat.text
    await chat.say("买了假奶粉能赔多少？花了300元")
    # Food: 10 × 300 = 3000 ≥ 1000.
    assert "3,000 元" in chat.text and "3,300 元" in chat.text
    await chat.say("假的食品赔多少？花了50元")
    assert "1,000 元" in chat.text  # 10 × 50 = 500 < 1000


async def test_fake_liquor_is_fraud_times_three_and_ten_times_is_explained() -> None:
    chat = await advised()
    await chat.say("买到假茅台能赔多少？花了2000元")
    # Art. 55: 3 × 2000 = 6000 plus the 2000 back, not ten times.
    assert "6,000 元" in chat.text and "8,000 元" in chat.text
    assert "20,000 元" not in chat.text
    assert "甲醇超标" in chat.text and "商家明知" in chat.text
    # Fraud is a presumption the seller may rebut, and 知假买假 is limited.
    assert "商家可以举证推翻" in chat.text and "2024年司法解释" in chat.text


async def test_fake_liquor_in_english() -> None:
    chat = EngineChat(locale="en-GB", knowledge=await sample_knowledge())
    await chat.say("how much compensation for fake moutai? I paid ¥2000")
    assert "6,000" in chat.text and "20,000" not in chat.text
    assert "tested unsafe" in chat.text and "refund plus three times the price" in chat.text


async def test_certificate_check_asks_for_the_number_when_missing() -> None:
    chat = await advised()
    await chat.say("/ccc")
    assert "证书编号" in chat.text
    await chat.say("2024010914000001")
    assert "2024010914000001" in chat.text


async def test_ccc_question_in_the_middle_of_a_complaint() -> None:
    chat = await advised()
    await run(chat, [("/complaint", "product"), ("充电宝", "brand"), ("/skip", "model_no")])
    await run(chat, [("/skip", "platform")])
    await chat.say("充电宝需要3C吗？")
    assert "我们继续" in chat.text and chat.awaiting == "platform"
    assert "在哪里买的" in chat.text
    await run(chat, [("京东", "merchant")])


async def test_question_without_a_question_mark_in_a_free_text_step() -> None:
    chat = await advised()
    await run(chat, [("/complaint", "product"), ("充电宝", "brand"), ("/skip", "model_no")])
    await run(chat, [("/skip", "platform")])
    await run(chat, [("京东", "merchant"), ("某某数码", "merchant_address")])
    # Colloquial questions ("要不要…啊") are answered, not taken as the shop's address.
    await chat.say("那个充电宝要不要3C认证啊")
    assert chat.awaiting == "merchant_address"
    assert "我们继续" in chat.text and "3C" in chat.text
    await chat.say("https://shop.example.com/9")
    assert chat.awaiting == "order_no"


async def test_reward_question_in_the_middle_of_a_report() -> None:
    chat = await advised()
    await run(chat, OPENING[:4])
    await chat.say("举报有奖励吗？")
    assert "5%" in chat.text and chat.awaiting == "violation"
    await run(chat, [("/choice:sanwu", "own_dispute"), ("/no", "seen")])
    await run(chat, [("昨天在夜市", "facts"), ("夜市摊位在卖没有厂名厂址的充电器", "photos")])
    await run(chat, [("/skip", "relation"), ("/choice:none", "identity")])
    await run(chat, [("/choice:anonymous", "reward"), ("/no", "confirm")])
    for kept in ("某某 数码专营店", "shop12345.taobao.com", "三无产品"):
        assert kept in chat.text  # nothing collected was lost


async def test_without_the_knowledge_port_the_bot_says_it_does_not_know() -> None:
    chat = EngineChat(knowledge=None)
    await chat.say("怎么辨别假茅台？")
    dont_know = chat.last[0]
    assert "不能确定" in dont_know.text and "特供" not in chat.text
    assert "/human" in [b.payload for b in dont_know.buttons]
