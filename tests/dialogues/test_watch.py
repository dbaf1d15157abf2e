"""Watching a certificate after a check, and subscribing after a category's advice, in chat
(zh and en): the watch is one of the sender's subscriptions, listed and dropped with them."""

from __future__ import annotations

from dialogues.actions import Topic
from tests.dialogues.engine_double import EngineChat, sample_knowledge
from tests.dialogues.office import Office

VALID = "2024010914000001"  # a SAMPLE power bank certificate, valid
SUSPENDED = "2024010914000002"


async def test_watch_this_certificate_after_a_check_then_list_and_unsubscribe() -> None:
    office = Office()
    chat = EngineChat(office, sender="watcher", knowledge=await sample_knowledge())
    await chat.say("/ccc")
    await chat.say(VALID)
    assert "状态：有效" in chat.text and "回复“关注这个证书”" in chat.text
    assert f"/watch:{VALID}" in chat.buttons
    await chat.say("关注这个证书")
    assert f"已关注3C证书 {VALID}（现在的登记状态：有效）" in chat.text
    assert office.watched[("rest", "watcher", VALID)] == "valid"
    # The button (tapped later) and the words with a number watch too, once each.
    await chat.say(f"/watch:{VALID}")
    assert f"您已经关注了3C证书 {VALID}" in chat.text
    await chat.say(f"关注证书 {SUSPENDED}")
    assert "现在的登记状态：暂停" in chat.text
    await chat.say("订阅充电宝的安全提醒")
    await chat.say("我的订阅")
    assert f"1. 3C证书 {VALID} 的状态变化" in chat.text
    assert f"2. 3C证书 {SUSPENDED} 的状态变化" in chat.text
    assert "3. 充电宝" in chat.text
    await chat.say("退订 1")
    assert f"已退订：3C证书 {VALID} 的状态变化" in chat.text
    assert office.subscriptions[("rest", "watcher")][0] == Topic("certificate", SUSPENDED)
    await chat.say("退订")
    assert office.subscriptions[("rest", "watcher")] == []


async def test_watch_in_english_and_what_cannot_be_watched() -> None:
    office = Office()
    chat = EngineChat(office, sender="en", locale="en-US", knowledge=await sample_knowledge())
    await chat.say("/ccc")
    await chat.say(SUSPENDED)
    assert 'Reply "watch this certificate"' in chat.text
    await chat.say("watch this certificate")
    assert f"Watching CCC certificate {SUSPENDED} (registered status now: suspended)" in chat.text
    await chat.say("my subscriptions")
    assert f"1. status changes of CCC certificate {SUSPENDED}" in chat.text
    # Without a check just before, the number is asked for; an unknown number is refused.
    await chat.say("watch this certificate")
    assert "Send the certificate number with it" in chat.text
    await chat.say("watch certificate 2024010914999999")
    assert "has no number 2024010914999999" in chat.text
    assert len(office.subscriptions[("rest", "en")]) == 1


async def test_a_number_that_is_not_found_offers_no_watch() -> None:
    chat = EngineChat(knowledge=await sample_knowledge())
    await chat.say("/ccc")
    await chat.say("2024010914999999")
    assert "没有查到" in chat.text
    assert not any(b.startswith("/watch:") for b in chat.buttons)
    # The next message is routed as usual, not taken as "watch".
    await chat.say("关注这个证书")
    assert "请同时发送要关注的证书编号" in chat.text


async def test_a_category_answer_offers_its_alerts_and_other_answers_do_not() -> None:
    office = Office()
    chat = EngineChat(office, sender="reader", knowledge=await sample_knowledge())
    await chat.say("假的耐克鞋怎么辨别")
    assert chat.last[0].buttons[-1].payload == "/sub:category:shoes"
    assert chat.last[0].buttons[-1].title == "订阅这类安全提醒"
    await chat.say("/sub:category:shoes")
    assert "已订阅：" in chat.text
    assert office.subscriptions[("rest", "reader")] == [Topic("category", "shoes")]
    await chat.say("举报有奖励吗")
    assert not any(b.startswith("/sub:") for b in chat.buttons)

    english = EngineChat(Office(), locale="en-US", knowledge=await sample_knowledge())
    await english.say("how do I spot a fake power bank?")
    assert english.last[0].buttons[-1].payload == "/sub:category:chargers"
    assert english.last[0].buttons[-1].title == "Subscribe to these alerts"
