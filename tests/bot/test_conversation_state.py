"""The conversation state column: typed in code, versioned, readable from before versions."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.db.models import Conversation
from dialogues.state import VERSION, ConversationState, Expect, FormState
from tests.factories import chat_for

# A conversation stored before the state had a version: mid-complaint, a claim pending.
UNVERSIONED = {
    "lang": "zh",
    "flow": "complaint",
    "step": "brand",
    "slots": {"product": "蓝牙耳机"},
    "photos": [7],
    "correcting": None,
    "expect": {"answer": "claim", "data": {"case_no": "TS20261127000001"}},
    "misses": 1,
    "loose_evidence": [3],
}


def test_unversioned_state_loads_and_stores_with_its_version() -> None:
    state = ConversationState.load(UNVERSIONED)
    assert state.form == FormState("complaint", "brand", {"product": "蓝牙耳机"}, [7])
    assert state.expect == Expect("claim", {"case_no": "TS20261127000001"})
    assert (state.lang, state.misses, state.loose_evidence) == ("zh", 1, [3])
    stored = state.dump()
    assert stored["version"] == VERSION
    assert {k: v for k, v in stored.items() if k != "version"} == UNVERSIONED
    assert ConversationState.load(stored) == state


def test_a_state_from_a_newer_version_is_refused_not_misread() -> None:
    with pytest.raises(ValueError, match="newer"):
        ConversationState.load({"version": VERSION + 1, "flow": "complaint"})


async def test_a_conversation_stored_before_versions_carries_on(app: object) -> None:
    chat = chat_for(app)  # type: ignore[arg-type]
    await chat.say("/complaint")
    await chat.say("蓝牙耳机")
    sessions = app.state.sessions  # type: ignore[attr-defined]
    async with sessions() as session, session.begin():
        conversation = (await session.execute(select(Conversation))).scalar_one()
        assert conversation.state["version"] == VERSION
        conversation.state = {k: v for k, v in conversation.state.items() if k != "version"}
    await chat.say("索尼")
    assert chat.awaiting == "model_no", chat.text
    async with sessions() as session:
        conversation = (await session.execute(select(Conversation))).scalar_one()
    assert conversation.state["version"] == VERSION
    assert conversation.state["slots"] == {"product": "蓝牙耳机", "brand": "索尼"}
