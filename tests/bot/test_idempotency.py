"""A repeated message id returns the first answer and changes nothing, also concurrently."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select

from bot.db.models import Case, Conversation, InboundMessage, TranscriptEntry
from tests.factories import COMPLAINT_ANSWERS


async def count(app: Any, model: Any) -> int:
    async with app.state.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def post(client: Any, message: str, message_id: str | None = None, sender: str = "u1") -> Any:
    body = {"sender": sender, "message": message}
    if message_id:
        body["message_id"] = message_id
    response = await client.post("/webhooks/rest/webhook", json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def test_repeated_message_id_returns_first_answer(client: Any, app: Any) -> None:
    first = await post(client, "/complaint", "m1")
    assert first[-1]["custom"]["awaiting"] == "product"
    again = await post(client, "/complaint", "m1")
    assert again == first
    await post(client, "耳机", "m2")
    # A late redelivery of m2 does not answer the brand question a second time.
    redelivered = await post(client, "耳机", "m2")
    assert redelivered[-1]["custom"]["awaiting"] == "brand"
    assert await count(app, InboundMessage) == 2
    assert await count(app, TranscriptEntry) == 2 + 3  # 2 in, intro + question + brand question


async def test_concurrent_duplicates_are_processed_once(client: Any, app: Any) -> None:
    await post(client, "/complaint", "c0", sender="racer")
    answers = await asyncio.gather(
        *(post(client, "蓝牙耳机", "c1", sender="racer") for _ in range(8))
    )
    assert all(a == answers[0] for a in answers)
    assert answers[0][-1]["custom"]["awaiting"] == "brand"
    assert await count(app, InboundMessage) == 2
    assert await count(app, Conversation) == 1
    # The form advanced exactly once.
    nxt = await post(client, "索尼", "c2", sender="racer")
    assert nxt[-1]["custom"]["awaiting"] == "model_no"


async def test_concurrent_first_messages_create_one_conversation(client: Any, app: Any) -> None:
    ids = [f"first-{i}" for i in range(6)]
    await asyncio.gather(*(post(client, "你好", mid, sender="newcomer") for mid in ids))
    assert await count(app, Conversation) == 1
    assert await count(app, InboundMessage) == 6


async def test_concurrent_confirmations_file_one_case(client: Any, app: Any) -> None:
    # Answer whatever the form asks, so steps added to it do not break this test.
    replies = await post(client, "/complaint", "s0", sender="submitter")
    for i in range(1, 40):
        awaiting = replies[-1]["custom"]["awaiting"]
        if awaiting == "confirm":
            break
        replies = await post(client, COMPLAINT_ANSWERS[awaiting], f"s{i}", sender="submitter")
    assert replies[-1]["custom"]["awaiting"] == "confirm", replies
    answers = await asyncio.gather(
        *(post(client, "/confirm", "final", sender="submitter") for _ in range(5))
    )
    numbers = {a[0]["custom"]["case_no"] for a in answers}
    assert len(numbers) == 1 and next(iter(numbers)).startswith("TS")
    assert await count(app, Case) == 1
