"""Every reply text exists in both languages; English replies when the channel says so."""

from __future__ import annotations

import re
import string

import pytest

from dialogues.flows import all_flows, menu_items
from dialogues.texts import LANGUAGES, catalogue
from tests.dialogues.engine_double import EngineChat


def test_every_key_exists_in_both_languages() -> None:
    zh, en = set(catalogue("zh")), set(catalogue("en"))
    assert sorted(zh - en) == [], "keys only in zh"
    assert sorted(en - zh) == [], "keys only in en"


@pytest.mark.parametrize("key", sorted(catalogue("zh")))
def test_placeholders_match_across_languages(key: str) -> None:
    def fields(text: str) -> set[str]:
        return {f for _, f, _, _ in string.Formatter().parse(text) if f}

    assert fields(catalogue("zh")[key]) == fields(catalogue("en").get(key, ""))


def test_every_key_the_flows_use_exists() -> None:
    for lang in LANGUAGES:
        texts = catalogue(lang)
        for item in menu_items():
            assert item.title in texts
        for flow in all_flows().values():
            for step in flow.steps:
                assert f"{flow.name}.ask.{step.slot}" in texts
                assert step.label in texts
                if step.labelled:
                    for choice in step.choices:
                        assert f"{flow.name}.{step.slot}.{choice}" in texts
            for note in flow.notes:
                assert note.text in texts
            for offer in flow.offers:
                assert offer.text in texts and offer.button in texts


async def test_english_locale_gets_english_replies() -> None:
    chat = EngineChat(locale="en-GB")
    await chat.say("hello")
    assert "Report a violation" in chat.text
    await chat.say("/report")
    assert "Who are you reporting?" in chat.text
    assert not re.search(r"[\u4e00-\u9fff]", chat.last[-1].text)
    await chat.say("/cancel")
    await chat.say("how is my case status")
    assert "not filed" in chat.text


async def test_asking_for_english_switches_language() -> None:
    chat = EngineChat()
    await chat.say("你好")
    assert "我要举报" in chat.text
    await chat.say("English")
    assert "Report a violation" in chat.text
