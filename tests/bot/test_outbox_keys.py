"""Outbox keys: one spelling for every row, and the same action never queues twice."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.db.models import OutboxMessage
from bot.messages import InboundMessage
from bot.outbox import KEY_CHARS, Key, lane_of
from bot.staff.push import push

SENDER = "h:" + "5" * 40  # a stored (hashed) Telegram sender id
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_a_key_is_spelled_one_way() -> None:
    assert Key(SENDER, "msg.42", 1).spell("reply:telegram") == f"reply:telegram:{SENDER}:msg.42:1"
    assert Key("TS20261201000001", "event.7").spell("backoffice") == (
        "backoffice:TS20261201000001:event.7:0"
    )
    # Too long for the column: cut, two parts would be one key; the parts stay apart instead.
    long = [Key("r" * 100, "msg." + "m" * 100, part).spell("reply:wechat") for part in range(3)]
    assert len(set(long)) == 3
    assert all(len(k) <= KEY_CHARS and k.startswith("reply:wechat:#") for k in long)
    assert long[1] == Key("r" * 100, "msg." + "m" * 100, 1).spell("reply:wechat")


async def keys(app: Any) -> list[tuple[str, str]]:
    async with app.state.sessions() as session:
        found = await session.execute(
            select(OutboxMessage.topic, OutboxMessage.key).order_by(OutboxMessage.id)
        )
        return [(topic, key) for topic, key in found.all()]


async def test_every_row_has_the_one_key_format_and_a_repeat_queues_nothing(app: Any) -> None:
    pipeline = app.state.pipeline
    message = InboundMessage(
        "telegram", "901", SENDER, "button", payload="/complaint", inline=False, received_at=NOW
    )
    handled = await pipeline.handle(message)
    assert len(handled.replies) >= 2
    replies = [
        ("reply:telegram", Key(SENDER, "msg.901", i).spell("reply:telegram"))
        for i in range(len(handled.replies))
    ]
    assert await keys(app) == replies
    # The platform delivers the same message again: answered from the record, nothing queued.
    assert (await pipeline.handle(message)).duplicate
    assert await keys(app) == replies

    # A staff message: the same push twice is refused with its transaction.
    conversation_id = handled.conversation_id
    staff = {
        "channel": "telegram",
        "recipient_id": SENDER,
        "text": "您好，我是客服小王",
        "source": "staff.1.1764579600000.9",
        "now": NOW,
        "conversation_id": conversation_id,
    }
    for attempt in range(2):
        try:
            async with app.state.sessions() as session, session.begin():
                await session.run_sync(push, **staff)
        except IntegrityError:
            assert attempt == 1
        else:
            assert attempt == 0
    pushed = ("reply:telegram", Key(SENDER, "staff.1.1764579600000.9").spell("reply:telegram"))
    assert await keys(app) == [*replies, pushed]

    # A channel's own follow-ups (a platform's repeated delivery): queued once.
    channels = pipeline.channels
    items = [(Key(SENDER, "update.77"), {"recipient_id": "77", "text": "已收到", "buttons": []})]
    lane = lane_of("telegram", SENDER)
    queue = {"topic": "reply:telegram", "items": items, "due": NOW, "lane": lane}
    assert await channels.queue_once(**queue) == 1
    assert await channels.queue_once(**queue) == 0
    assert await channels.is_queued("reply:telegram", Key(SENDER, "update.77"))
    noticed = ("reply:telegram", Key(SENDER, "update.77").spell("reply:telegram"))
    assert await keys(app) == [*replies, pushed, noticed]


@pytest.mark.databases("sqlite")
async def test_rows_queued_before_the_one_format_are_still_delivered(app: Any) -> None:
    """Rows queued with an earlier key spelling go out like any other (keys are names only)."""
    from bot.outbox import Delivery, OutboxDispatcher

    async with app.state.sessions() as session, session.begin():
        session.add(
            OutboxMessage(
                topic="reply:telegram",
                key="reply:telegram:12:old-message:0",
                payload={"recipient_id": SENDER, "text": "旧的回复"},
                next_attempt_at=NOW,
                lane=lane_of("telegram", SENDER),
            )
        )
    sent: list[str] = []

    async def deliver(row: Delivery) -> None:
        sent.append(row.payload["text"])

    dispatcher = OutboxDispatcher(app.state.sessions, clock=lambda: NOW)
    dispatcher.register("reply:telegram", deliver)
    assert await dispatcher.run_once() == 1
    assert sent == ["旧的回复"]
