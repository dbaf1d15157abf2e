"""The scripted conversations of benchmarks/form_conversations.yml, each checked on the case
it files (every field, exactly), with rule understanding. The same set runs on Rasa with
``benchmarks/forms_bench.py --engine rasa``."""

from __future__ import annotations

import pytest

from benchmarks.forms_bench import load, play

DEFAULTS, CONVERSATIONS = load()


def test_the_set_is_large_and_varied() -> None:
    assert len(CONVERSATIONS) >= 60
    assert {c["flow"] for c in CONVERSATIONS} == {"complaint", "report"}


@pytest.mark.parametrize("convo", CONVERSATIONS, ids=[c["name"] for c in CONVERSATIONS])
async def test_conversation_files_exactly_the_expected_case(convo: dict[str, object]) -> None:
    outcome = await play(DEFAULTS, convo, None)
    assert outcome.right, outcome.detail
