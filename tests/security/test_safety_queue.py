"""A flood of new senders each typing a safety word cannot bury genuine hand-over requests.

Before: every safety word queued at the top priority, so 150 one-line newcomers typing
"起火了" put every person who had asked for staff 150 places down the staff queue.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.handover import rules
from bot.handover.staff import queue
from tests.factories import Chat, chat_for

START = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
FLOOD = 150


async def staff_view(app: Any) -> list[tuple[str, str]]:
    """The waiting requests in the order staff see them: (sender, reason)."""
    async with app.state.sessions() as session:
        tickets = await queue(session)
    return [(t.conversation.sender_id, t.request.reason) for t in tickets]


async def established(app: Any, sender: str) -> Chat:
    """A person who has been talking to the bot for a while."""
    chat = chat_for(app, sender=sender, now=START)
    await chat.say("你好")
    chat.now = START + timedelta(minutes=2)
    await chat.say("谢谢")
    chat.now = START + timedelta(minutes=6)
    return chat


async def flood(app: Any, at: datetime, count: int = FLOOD) -> list[Chat]:
    chats = []
    for i in range(count):
        chat = chat_for(app, sender=f"flood-{at:%H%M}-{i:03d}", now=at + timedelta(seconds=i))
        await chat.say("充电器起火了")
        assert "119" in chat.text  # every one still gets the emergency advice
        chats.append(chat)
    return chats


async def test_a_flood_of_new_senders_leaves_genuine_requests_within_reach(app: Any) -> None:
    budget = int(rules()["safety"]["new_budget"])
    # Genuine requests, queued before the flood.
    asker = await established(app, "asker")
    await asker.say("转人工")
    confused = await established(app, "confused")
    await confused.say("啦啦啦")
    await confused.say("咕噜咕噜")
    burned = await established(app, "burned")
    # A genuine first-message emergency is served first while the flood has not used the budget.
    first_timer = chat_for(app, sender="first-timer", now=START + timedelta(minutes=6))
    await first_timer.say("孩子玩充电宝被烫伤了怎么办")

    await flood(app, START + timedelta(minutes=7))
    # An established conversation's emergency in the middle of the flood.
    burned.now = START + timedelta(minutes=8)
    await burned.say("刚才充电宝爆炸了，手被烧伤")
    # And a person who asks for staff after the flood started.
    late = await established(app, "late-asker")
    late.now = START + timedelta(minutes=9)
    await late.say("转人工")

    view = await staff_view(app)
    assert len(view) == 5 + FLOOD  # nothing is dropped
    genuine = {"asker", "confused", "burned", "first-timer", "late-asker"}
    top = view[: len(genuine) + budget]
    assert genuine <= {sender for sender, _reason in top}, top
    assert ("burned", "safety") in top and ("first-timer", "safety") in top
    assert ("confused", "not_understood") in top
    # The flood is still there for staff to see, flagged as safety.
    assert sum(reason == "safety" for sender, reason in view if sender.startswith("flood")) == (
        FLOOD
    )


async def test_the_budget_refills_after_the_window(app: Any) -> None:
    window = timedelta(minutes=int(rules()["safety"]["window_minutes"]))
    asker = await established(app, "asker")
    await asker.say("转人工")
    await flood(app, START + timedelta(minutes=7), count=20)
    later = START + timedelta(minutes=8) + window
    newcomer = chat_for(app, sender="newcomer", now=later)
    await newcomer.say("家里电热水器漏电，有人触电了")
    view = await staff_view(app)
    assert view.index(("newcomer", "safety")) < view.index(("asker", "asked"))


async def test_a_demoted_safety_request_keeps_its_flag_when_the_user_asks_again(app: Any) -> None:
    await flood(app, START, count=10)
    chat = chat_for(app, sender="newcomer", now=START + timedelta(seconds=30))
    await chat.say("插座冒烟起火了")
    before = await staff_view(app)
    assert before.index(("newcomer", "safety")) >= 10  # over the budget: after the others
    asker = await established(app, "asker")
    await asker.say("转人工")
    await chat.say("转人工")  # moves up to an ordinary request, still flagged as safety
    after = await staff_view(app)
    budget = int(rules()["safety"]["new_budget"])
    # Among the ordinary requests now, ahead of the flood's demoted rest, flag kept.
    assert after.index(("newcomer", "safety")) < budget + 2
    assert after.index(("newcomer", "safety")) < after.index((f"flood-{START:%H%M}-009", "safety"))
