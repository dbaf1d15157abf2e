"""Buttons pressed in the middle of a form (an older message's, or a command typed as one)
are never stored as the answer to the question being asked."""

from __future__ import annotations

from tests.dialogues.engine_double import EngineChat


async def test_the_person_button_mid_form_queues_and_keeps_the_question() -> None:
    chat = EngineChat()
    await chat.say("/complaint")
    assert chat.awaiting == "product"
    await chat.say("/human")
    assert "排队" in chat.text  # queued for a person
    assert chat.awaiting == "product"  # and the product is still what is asked
    await chat.say("充电宝")
    assert chat.awaiting == "brand"
    assert chat.state["slots"] == {"product": "充电宝"}


async def test_another_menu_button_mid_form_is_not_an_answer() -> None:
    chat = EngineChat()
    await chat.say("/complaint")
    await chat.say("/report")
    assert chat.awaiting == "product"
    assert "product" not in chat.state["slots"]


async def test_a_stale_button_of_another_question_is_asked_again() -> None:
    chat = EngineChat()
    await chat.say("/complaint")
    await chat.say("蓝牙耳机")
    assert chat.awaiting == "brand"
    for stale in ("/choice:refund", "/yes", "/confirm"):
        await chat.say(stale)
        assert chat.awaiting == "brand", stale
        assert "没太明白" in chat.text
    assert chat.state["slots"] == {"product": "蓝牙耳机"}
