"""Safety-alert subscriptions in chat: subscribe, list and unsubscribe, in zh and en."""

from __future__ import annotations

from dialogues.actions import Topic
from dialogues.subscriptions import MAX_SUBSCRIPTIONS, topic_of
from tests.dialogues.engine_double import EngineChat
from tests.dialogues.office import Office


async def test_subscribe_list_and_unsubscribe_in_chinese() -> None:
    office = Office()
    chat = EngineChat(office, sender="zh-user")
    await chat.say("订阅充电宝的安全提醒")
    assert "已订阅：充电宝、充电器和数据线类安全提醒" in chat.text
    await chat.say("订阅广东的预警")
    assert "广东地区的安全提醒" in chat.text
    await chat.say("订阅品牌 小米")
    assert "品牌“小米”的安全提醒" in chat.text
    await chat.say("订阅充电宝的安全提醒")
    assert "您已经订阅了" in chat.text
    await chat.say("我的订阅")
    assert "1. 充电宝、充电器和数据线类安全提醒" in chat.text
    assert "2. 广东地区的安全提醒" in chat.text
    assert "3. 品牌“小米”的安全提醒" in chat.text
    await chat.say("退订 2")
    assert "已退订：广东地区的安全提醒" in chat.text
    await chat.say("退订 7")
    assert "没有第 7 项" in chat.text and "2. 品牌“小米”" in chat.text
    await chat.say("退订")
    assert "已退订：" in chat.text and "小米" in chat.text and "充电宝" in chat.text
    await chat.say("我的订阅")
    assert "您还没有订阅" in chat.text
    assert office.subscriptions[("rest", "zh-user")] == []


async def test_subscribe_list_and_unsubscribe_in_english() -> None:
    office = Office()
    chat = EngineChat(office, sender="en-user", locale="en-US")
    await chat.say("subscribe to power bank alerts")
    assert "Subscribed: safety alerts about power banks, chargers and cables" in chat.text
    await chat.say("Subscribe to Guangdong alerts")
    assert "safety alerts for Guangdong" in chat.text
    await chat.say("subscribe to brand Anker")
    assert 'the brand "Anker"' in chat.text
    await chat.say("my subscriptions")
    assert "2. safety alerts for Guangdong" in chat.text
    assert "/unsub:all" in chat.buttons
    await chat.say("unsubscribe 1")
    assert "Unsubscribed: safety alerts about power banks" in chat.text
    await chat.say("/unsub:all")
    assert "Unsubscribed:" in chat.text and "Anker" in chat.text
    await chat.say("unsubscribe")
    assert "You have no safety-alert subscriptions" in chat.text


async def test_an_unclear_request_says_how_and_the_limit_holds() -> None:
    office = Office()
    chat = EngineChat(office, sender="many")
    await chat.say("订阅")
    assert "请说明要订阅什么" in chat.text
    await chat.say("退订 小米")
    assert "回复“退订”取消全部订阅" in chat.text
    for n in range(MAX_SUBSCRIPTIONS):
        await chat.say(f"订阅品牌 牌子{n}")
    await chat.say("订阅品牌 再一个")
    assert f"最多可以订阅 {MAX_SUBSCRIPTIONS} 项" in chat.text
    assert len(office.subscriptions[("rest", "many")]) == MAX_SUBSCRIPTIONS


def test_topics_by_category_region_and_brand() -> None:
    assert topic_of("电动车电池") == Topic("category", "ebike")
    assert topic_of("上海市") == Topic("region", "上海")
    assert topic_of("Inner Mongolia") == Topic("region", "内蒙古")
    assert topic_of("品牌 充电宝") == Topic("brand", "充电宝")
    assert topic_of("x" * 31) is None


async def test_a_long_message_is_not_a_subscription_and_parses_quickly() -> None:
    chat = EngineChat(Office(), sender="long")
    await chat.say("订阅" + "啊" * 3998)
    assert "已订阅" not in chat.text


async def test_consent_to_subscription_messages_on_wechat_in_both_languages() -> None:
    office = Office()
    zh = EngineChat(office, sender="wx-zh", channel="wechat")
    await zh.say("订阅充电宝的安全提醒")
    assert "同意用订阅消息接收预警吗" in zh.text and "/alerts_consent:yes" in zh.buttons
    await zh.say("/alerts_consent:yes")
    assert "已记下您的同意" in zh.text and ("wechat", "wx-zh") in office.consents
    await zh.say("订阅品牌 小米")
    assert "同意用订阅消息" not in zh.text  # asked once, while not agreed
    await zh.say("不接收订阅消息")
    assert "已取消" in zh.text and ("wechat", "wx-zh") not in office.consents
    en = EngineChat(office, sender="wx-en", channel="wechat", locale="en-US")
    await en.say("subscribe to power bank alerts")
    assert "Do you agree to receive alerts that way?" in en.text
    await en.say("allow subscription messages")
    assert "Noted: when we have not talked for 48 hours" in en.text
    web = EngineChat(office, sender="web-en", locale="en-US")
    await web.say("subscribe to power bank alerts")
    assert "subscription message" not in web.text  # the web chat needs no consent
    await web.say("allow subscription messages")
    assert "Nothing to agree to here" in web.text
