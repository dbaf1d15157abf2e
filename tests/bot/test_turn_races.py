"""Turns decided on a snapshot never lose an answer, a hand-over or a busy write.

The pipeline decides a turn on a snapshot, outside any transaction, and applies it only if the
conversation is unchanged (bot/pipeline.py, bot/conversations.py). These tests force each way that can go wrong —
a second message or a staff take-over between the decision and the commit, a database held
busy by another writer — and check what the consumer and the staff would see.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bot.db.models import Conversation, InboundMessage, TranscriptEntry
from dialogues.actions import Decision
from dialogues.engine import Engine
from dialogues.model import Turn
from dialogues.ports import Ports
from tests.factories import COMPLAINT_ANSWERS, chat_for


class PausingEngine(Engine):
    """The real engine, with a hook that runs once in the middle of the next decision."""

    def __init__(self) -> None:
        super().__init__()
        self.hook: Callable[[], Awaitable[None]] | None = None
        self.decisions = 0

    async def decide(self, state: dict[str, Any], turn: Turn, ports: Ports) -> Decision:
        self.decisions += 1
        outcome = await super().decide(state, turn, ports)
        hook, self.hook = self.hook, None
        if hook is not None:
            await hook()
        return outcome


async def conversation_of(app: Any, sender: str) -> Conversation:
    async with app.state.sessions() as session:
        row = (
            await session.execute(select(Conversation).where(Conversation.sender_id == sender))
        ).scalar_one()
        return row


async def count(app: Any, model: Any, conversation_id: int) -> int:
    async with app.state.sessions() as session:
        stmt = (
            select(func.count()).select_from(model).where(model.conversation_id == conversation_id)
        )
        return int((await session.execute(stmt)).scalar_one())


async def test_parallel_answers_from_one_sender_both_count(app: Any) -> None:
    """Two answers sent at once fill two questions: neither overwrites the other."""
    chats = [chat_for(app, sender=f"twin-{i}") for i in range(6)]
    for chat in chats:
        await chat.say("/complaint")
    # A product and a brand: each is understood whichever question it meets first.
    results = await asyncio.gather(
        *(chat.say(text) for chat in chats for text in ("蓝牙耳机", "索尼"))
    )
    for i, chat in enumerate(chats):
        asked = {results[2 * i][-1].custom["awaiting"], results[2 * i + 1][-1].custom["awaiting"]}
        # Whichever was decided second saw the first one's answer and moved past both.
        assert "model_no" in asked, asked
        conversation = await conversation_of(app, chat.sender)
        assert conversation.state["slots"]["product"] == "蓝牙耳机"
        assert conversation.state["slots"]["brand"] == "索尼"
        await chat.say(COMPLAINT_ANSWERS["model_no"])
        assert chat.awaiting == "platform", chat.text
        await chat.say("京东")
        assert chat.awaiting == "merchant", chat.text
        conversation = await conversation_of(app, chat.sender)
        assert conversation.message_count == 5
        assert await count(app, InboundMessage, conversation.id) == 5


async def test_message_arriving_mid_decision_is_not_lost(settings: Any) -> None:
    """A second message commits while the first is being decided: the first is re-decided."""
    from tests.factories import running_app

    async with running_app(settings) as app:
        engine = PausingEngine()
        app.state.pipeline.engine = engine
        chat = chat_for(app, sender="overtaken")
        other = chat_for(app, sender="overtaken")
        await chat.say("/complaint")
        engine.hook = lambda: other.say("蓝牙耳机")  # type: ignore[assignment]
        replies = await chat.say("索尼")
        # "蓝牙耳机" answered the product question while "索尼" was being decided; "索尼" was then
        # decided again on the new state and answers the brand question.
        assert other.awaiting == "brand"
        assert replies[-1].custom["awaiting"] == "model_no"
        conversation = await conversation_of(app, "overtaken")
        assert conversation.state["slots"]["product"] == "蓝牙耳机"
        assert conversation.state["slots"]["brand"] == "索尼"
        assert conversation.message_count == 3
        assert await count(app, TranscriptEntry, conversation.id) >= 3 + 3


async def test_staff_taking_over_mid_decision_silences_the_bot(settings: Any) -> None:
    """Staff take the conversation while the bot decides: the bot's answer is not sent."""
    from tests.factories import running_app

    async with running_app(settings) as app:
        engine = PausingEngine()
        app.state.pipeline.engine = engine
        chat = chat_for(app, sender="taken")
        await chat.say("/complaint")

        async def take() -> None:
            async with app.state.sessions() as session, session.begin():
                conversation = (
                    await session.execute(
                        select(Conversation).where(Conversation.sender_id == "taken")
                    )
                ).scalar_one()
                conversation.handover = "agent1"

        engine.hook = take
        assert await chat.say("蓝牙耳机") == []
        conversation = await conversation_of(app, "taken")
        assert conversation.handover == "agent1"
        assert conversation.state.get("slots", {}).get("product") is None
        assert conversation.message_count == 2
        # The consumer's message is kept for the staff member to read.
        assert await count(app, InboundMessage, conversation.id) == 2


async def test_a_busy_database_delays_a_turn_without_blocking_others(
    sqlite_settings: Any,
) -> None:
    """Another process holds SQLite's write lock: the turn waits for it, the service answers."""
    import httpx

    from tests.factories import running_app

    async with running_app(sqlite_settings) as app:
        chat = chat_for(app, sender="patient")
        await chat.say("/complaint")
        path = str(make_url(sqlite_settings.database_url).database)
        locked, release = threading.Event(), threading.Event()

        def hold_write_lock() -> None:
            conn = sqlite3.connect(path, isolation_level=None)
            conn.execute("BEGIN IMMEDIATE")
            locked.set()
            release.wait(10)
            conn.execute("ROLLBACK")
            conn.close()

        holder = threading.Thread(target=hold_write_lock)
        holder.start()
        await asyncio.to_thread(locked.wait, 10)
        answer = asyncio.create_task(chat.say("蓝牙耳机"))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            health = await http.get("/healthz")
        assert health.status_code == 200
        assert not answer.done()  # still waiting for the other writer, off the event loop
        release.set()
        await asyncio.to_thread(holder.join, 10)
        replies = await asyncio.wait_for(answer, 30)
        assert replies[-1].custom["awaiting"] == "brand"
        conversation = await conversation_of(app, "patient")
        assert conversation.state["slots"]["product"] == "蓝牙耳机"


async def test_the_commit_that_issues_a_case_number_is_synced_to_disk(
    sqlite_settings: Any,
) -> None:
    """SQLite: the transaction that files a case commits with ``synchronous=FULL`` (it
    survives a power cut, not only a crash); ordinary turns keep ``NORMAL``."""
    from sqlalchemy import event

    from tests.bot.test_complaint_flow import HAPPY
    from tests.factories import run, running_app

    async with running_app(sqlite_settings) as app:
        statements: list[str] = []

        def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            statements.append(" ".join(statement.split()).upper())

        for engine in app.state.pipeline.store._engines:
            event.listen(engine, "before_cursor_execute", seen)
        chat = chat_for(app, sender="durable")
        await run(chat, HAPPY)
        await chat.say("/confirm")
        assert "TS" in chat.text, chat.text
        filing = next(i for i, s in enumerate(statements) if s.startswith("INSERT INTO CASES"))
        begun = max(i for i, s in enumerate(statements[:filing]) if s == "BEGIN IMMEDIATE")
        assert statements[begun - 1] == "PRAGMA SYNCHRONOUS=FULL"
        levels = [s for s in statements if s.startswith("PRAGMA SYNCHRONOUS=")]
        assert levels.count("PRAGMA SYNCHRONOUS=FULL") == 1
        assert levels.count("PRAGMA SYNCHRONOUS=NORMAL") >= len(HAPPY) - 1


async def test_a_repeat_recorded_mid_decision_is_answered_as_before(settings: Any) -> None:
    """Another delivery of the same message is recorded while this one is decided: the turn
    is not applied a second time, and the sender gets the answer already given."""
    from bot.messages import InboundMessage as Message
    from dialogues.model import Reply
    from tests.factories import running_app

    async with running_app(settings) as app:
        engine = PausingEngine()
        pipeline = app.state.pipeline
        pipeline.engine = engine

        def message(mid: str, text: str = "", payload: str | None = None) -> Message:
            return Message("rest", mid, "echo", "text", text=text, payload=payload)

        await pipeline.handle(message("m1", payload="/complaint"))
        conversation = await conversation_of(app, "echo")
        answer = [Reply("已收到：蓝牙耳机").as_dict()]

        async def recorded_elsewhere() -> None:
            async with app.state.sessions() as session, session.begin():
                session.add(
                    InboundMessage(
                        channel="rest",
                        channel_message_id="m2",
                        conversation_id=conversation.id,
                        kind="text",
                        content={"text": "蓝牙耳机"},
                        replies=answer,
                    )
                )

        engine.hook = recorded_elsewhere
        handled = await pipeline.handle(message("m2", "蓝牙耳机"))
        assert handled.duplicate
        assert [r.as_dict() for r in handled.replies] == answer
        after = await conversation_of(app, "echo")
        # Still asking for the product: the repeat's decision was not applied.
        assert after.state == conversation.state
        assert after.message_count == conversation.message_count == 1
        assert await count(app, InboundMessage, conversation.id) == 2
        assert await count(app, TranscriptEntry, conversation.id) == 1 + 2
