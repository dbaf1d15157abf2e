"""Answers understood in context: what a message says for every field, what the user is told,
corrections, the story, "no" that is not "cancel", and the language that follows the user."""

from __future__ import annotations

from tests.dialogues.engine_double import EngineChat, run
from tests.factories import COMPLAINT_ANSWERS as COMPLAINT


async def test_the_reported_complaint_is_stored_where_each_answer_belongs() -> None:
    """The consumer's answers from the issue: a shop at the brand question, a link at the shop
    question, a date and an amount at the address question."""
    chat = EngineChat()
    await run(chat, [("我买的充电宝用了两天就鼓包了，好像是三无产品，我要投诉", "brand")])
    await chat.say("深圳市某某数码专营店")
    assert chat.awaiting == "brand" and "记下了商家（被投诉人） 深圳市某某数码专营店" in chat.text
    assert chat.state["slots"].get("brand") is None
    await run(chat, [("/skip", "model_no"), ("/skip", "platform"), ("淘宝", "merchant_address")])
    await chat.say("我在11月3号买的，花了129元")
    assert chat.awaiting == "merchant_address"
    assert "记下了购买日期 2026-11-03、金额 ¥129。" in chat.text
    assert "商家的地址" in chat.text
    await chat.say("https://shop.example.com/1")
    assert chat.awaiting == "order_no"  # date and amount are not asked again
    await run(chat, [("/skip", "demand")])
    slots = chat.state["slots"]
    assert slots["merchant"] == "深圳市某某数码专营店"
    assert slots["merchant_address"] == "https://shop.example.com/1"
    assert (slots["purchase_date"], slots["amount"]) == ("2026-11-03", 129)
    # The first message's story is the facts: the problem is not asked.
    assert slots["problem"] == "我买的充电宝用了两天就鼓包了，好像是三无产品，我要投诉"


async def test_a_link_at_the_shop_question_is_the_link_and_the_name_is_asked_again() -> None:
    chat = EngineChat()
    await run(chat, [("/complaint", "product"), ("耳机", "brand"), ("索尼", "model_no")])
    await run(chat, [("/skip", "platform"), ("京东", "merchant")])
    await chat.say("https://shop.example.com/9")
    assert chat.awaiting == "merchant" and "记下了商家地址或店铺链接" in chat.text
    await chat.say("某某专营店")
    assert chat.awaiting == "order_no"


async def test_a_phone_number_is_not_a_name_and_a_date_is_not_an_address() -> None:
    chat = EngineChat()
    await run(chat, [("/complaint", "product"), ("耳机", "brand")])
    await chat.say("北京市朝阳区建国路1号")
    assert chat.awaiting == "brand" and "brand" not in chat.state["slots"]
    await run(chat, [("/skip", "model_no"), ("/skip", "platform"), ("京东", "merchant")])
    await chat.say("2026-11-20")
    assert chat.awaiting == "merchant" and chat.state["slots"]["purchase_date"] == "2026-11-20"
    assert "merchant" not in chat.state["slots"]


async def test_corrections_anywhere_change_the_field_and_go_back_to_the_question() -> None:
    chat = EngineChat()
    await run(chat, [("/complaint", "product"), ("在京东花了129元买的耳机", "brand")])
    await chat.say("不对，金额是 399")
    assert "已把「金额」改为：¥399。" in chat.text and chat.awaiting == "brand"
    assert chat.state["slots"]["amount"] == 399
    await chat.say("索尼")
    await chat.say("商品写错了")
    assert chat.awaiting == "product" and "请重新填写「商品」" in chat.text
    await chat.say("充电宝")
    assert chat.awaiting == "model_no"  # back to the open question
    assert chat.state["slots"]["product"] == "充电宝"


async def test_no_is_not_cancel_and_a_form_with_answers_asks_before_it_is_dropped() -> None:
    chat = EngineChat()
    await run(chat, [("/complaint", "product"), ("耳机", "brand")])
    await chat.say("不要了")
    assert "要放弃这次投诉吗？已填的内容不会保存" in chat.text
    assert chat.awaiting == "brand" and chat.state["slots"]["product"] == "耳机"
    await chat.say("/continue")
    assert chat.awaiting == "brand" and "我们继续" in chat.text
    await chat.say("算了")
    await chat.say("/abandon")
    assert chat.awaiting is None and "已取消" in chat.text and chat.state.get("flow") is None


async def test_no_thanks_answers_a_yes_no_question() -> None:
    chat = EngineChat()
    await chat.say("/report")
    for said in ("/choice:shop", "某某超市", "人民路1号", "/choice:sanwu"):
        await chat.say(said)
    assert chat.awaiting == "own_dispute"
    await chat.say("不用了")
    assert chat.awaiting == "seen" and chat.state["slots"]["own_dispute"] is False


async def test_an_english_message_gets_english_replies_on_a_chinese_channel() -> None:
    chat = EngineChat(channel="wechat", locale="zh-CN")
    await chat.say("I want to complain about fake shoes")
    assert "complaint" in chat.text and chat.awaiting == "brand"
    await chat.say("Nike")
    assert "model number" in chat.text
    # A sentence in Chinese switches back; a Chinese name or brand alone would not.
    await chat.say("我不知道型号，盒子已经扔掉了")
    assert chat.awaiting == "platform" and "在哪里买的" in chat.text
    assert chat.state["slots"]["model_no"] == ""


async def test_an_english_conversation_reads_product_and_brand_in_english() -> None:
    """What is stored is the canonical Chinese value (staff read it); what an English speaker
    is told back is in English, and an unknown brand is shown as they wrote it."""
    chat = EngineChat(channel="wechat", locale="zh-CN")
    await chat.say("I want to complain, the sneakers I bought are fake")
    assert "Product: sneakers" in chat.text and "运动鞋" not in chat.text
    assert chat.state["slots"]["product"] == "运动鞋"
    both = EngineChat(channel="wechat", locale="zh-CN")
    await both.say("I want to complain, my Sony earphones are fake")
    assert (both.state["slots"]["product"], both.state["slots"]["brand"]) == ("耳机", "索尼")
    assert "earphones" in both.text and "Sony" in both.text, both.text
    assert "耳机" not in both.text and "索尼" not in both.text
    other = EngineChat(channel="wechat", locale="zh-CN")
    await other.say("I want to complain about a fake power bank")
    await other.say("Zorblax")
    assert other.state["slots"]["brand"] == "Zorblax"


async def test_a_hong_kong_number_and_a_permit_finish_a_reward_report() -> None:
    chat = EngineChat()
    await chat.say("/report")
    turns = ["/choice:online_shop", "某某潮牌小店", "https://shop999.taobao.com"]
    turns += ["/choice:counterfeit_brand", "耐克", "/no", "11月20日在淘宝上看到"]
    turns += ["店里卖假冒的耐克鞋，价格只有正品三分之一", "/skip", "/choice:competitor"]
    turns += ["/choice:real_name", "/yes", "陈大文"]
    for said in turns:
        await chat.say(said)
    assert chat.awaiting == "id_number"
    await chat.say("H12345678")
    assert chat.awaiting == "phone"
    await chat.say("9123 4567")
    assert chat.awaiting == "confirm"
    assert "港澳居民来往内地通行证" in chat.text and "+85291234567" in chat.text
    await chat.say("/confirm")
    [case] = chat.office.cases
    assert case.personal == {"name": "陈大文", "id_number": "H12345678", "phone": "+85291234567"}
    assert case.fields["id_type"] == "hkmo_permit" and case.fields["relation"] == "competitor"
    assert case.fields["brand"] == "耐克"


async def test_english_dates_and_amounts_are_read_whatever_was_asked() -> None:
    chat = EngineChat(channel="wechat", locale="zh-CN")
    await chat.say("I want to complain: I bought fake earphones yesterday for 129 yuan on Taobao")
    slots = chat.state["slots"]
    assert (slots["purchase_date"], slots["amount"], slots["platform"]) == (
        "2026-11-26",
        129,
        "淘宝",
    )
    await run(chat, [("/skip", "model_no"), ("/skip", "merchant")])
    # At the shop question a date is no shop: it is noted, and the question asked again.
    await chat.say("Actually it was last Friday")
    assert chat.awaiting == "merchant" and "merchant" not in chat.state["slots"]
    assert chat.state["slots"]["purchase_date"] == "2026-11-20"
    await chat.say("Gadget Store")
    assert chat.awaiting == "merchant_address"
    await chat.say("3 days ago I paid 399 yuan, the shop is at https://shop.example.com/7")
    slots = chat.state["slots"]
    assert slots["merchant_address"] == "https://shop.example.com/7"
    assert slots["amount"] == 129 and slots["purchase_date"] == "2026-11-20"  # not overwritten


async def test_a_hong_kong_number_in_a_message_of_many_fields_is_the_phone() -> None:
    chat = EngineChat()
    await chat.say("/complaint")
    while chat.awaiting != "name":
        await chat.say(COMPLAINT[chat.awaiting])
    await chat.say("我叫陈大文，手机 9123 4567")
    assert chat.awaiting == "address"
    slots = chat.state["slots"]
    assert (slots["name"], slots["phone"]) == ("陈大文", "+85291234567")


async def test_a_bare_eight_digit_number_elsewhere_is_never_the_phone() -> None:
    chat = EngineChat()
    await chat.say("/complaint")
    while chat.awaiting != "order_no":
        await chat.say(COMPLAINT[chat.awaiting])
    await chat.say("91234567")
    assert chat.state["slots"]["order_no"] == "91234567"
    while chat.awaiting != "phone":
        await chat.say(COMPLAINT[chat.awaiting])
    assert "phone" not in chat.state["slots"]
