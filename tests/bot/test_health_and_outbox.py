"""Readiness and the outbox dispatcher's delivery, retry and give-up paths."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.db.models import OutboxMessage
from bot.outbox import Delivery, GiveUp, OutboxDispatcher, RetryLater


async def test_health_and_readiness(client: Any, app: Any) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready" and body["database"] == "ok"
    assert body["nlu"]["engine"] in {"rules", "rasa"}
    assert app.state.sellers.regions.ready  # loaded before the app serves


async def test_readiness_reports_a_broken_database(client: Any, app: Any) -> None:
    from bot.db.engine import make_engine

    healthy = app.state.db_engine
    app.state.db_engine = make_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    try:
        response = await client.get("/readyz")
    finally:
        await app.state.db_engine.dispose()
        app.state.db_engine = healthy
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["database"].startswith("error")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def add_rows(app: Any, *keys: str) -> None:
    async with app.state.sessions() as session, session.begin():
        for key in keys:
            session.add(
                OutboxMessage(
                    topic="reply:test",
                    key=key,
                    payload={"text": key},
                    next_attempt_at=datetime(2026, 11, 27, 9, 0, tzinfo=UTC),
                )
            )


async def rows(app: Any) -> dict[str, OutboxMessage]:
    from sqlalchemy import select

    async with app.state.sessions() as session:
        return {r.key: r for r in (await session.execute(select(OutboxMessage))).scalars()}


async def test_outbox_delivers_retries_and_gives_up(app: Any) -> None:
    clock = Clock()
    dispatcher = OutboxDispatcher(app.state.sessions, clock=clock, max_attempts=3)
    delivered: list[str] = []
    failures = {"flaky": 1}

    async def handler(row: Delivery) -> None:
        if row.key == "blocked":
            raise GiveUp("user blocked the bot")
        if row.key == "broken":
            raise RuntimeError("peer down")
        if failures.get(row.key, 0) > 0:
            failures[row.key] -= 1
            raise RetryLater("429", after=30)
        delivered.append(row.key)

    dispatcher.register("reply:test", handler)
    await add_rows(app, "ok", "flaky", "blocked", "broken")
    assert await dispatcher.run_once() == 4
    state = await rows(app)
    assert state["ok"].status == "sent" and state["blocked"].status == "failed"
    assert "blocked" in (state["blocked"].last_error or "")
    assert state["flaky"].status == "pending"
    assert state["flaky"].next_attempt_at == clock.now + timedelta(seconds=30)
    # Not due yet: nothing happens.
    assert await dispatcher.run_once() == 0
    clock.now += timedelta(hours=2)
    while await dispatcher.run_once():  # every due row, a user's in order
        pass
    clock.now += timedelta(hours=2)
    while await dispatcher.run_once():  # every due row, a user's in order
        pass
    state = await rows(app)
    assert delivered == ["ok", "flaky"]
    assert state["flaky"].status == "sent" and state["flaky"].attempts == 2
    assert state["broken"].status == "failed" and state["broken"].attempts == 3
    assert "peer down" in (state["broken"].last_error or "")


async def test_one_users_messages_leave_in_order_while_one_waits_for_a_retry(app: Any) -> None:
    """A user's first message fails for now: the ones after it wait for it (the user never
    reads the second before the first); another user's messages are not held up, and a
    message given up on no longer holds anything back."""
    from bot.outbox import Key, enqueue

    clock = Clock()
    dispatcher = OutboxDispatcher(app.state.sessions, clock=clock)
    delivered: list[str] = []
    refuse = {"a1": 1, "b1": 9}

    async def handler(row: Delivery) -> None:
        name = row.payload["text"]
        if refuse.get(name, 0) > 0:
            refuse[name] -= 1
            if name == "b1":
                raise GiveUp("blocked")
            raise RetryLater("network", after=60)
        delivered.append(name)

    dispatcher.register("reply:test", handler)
    async with app.state.sessions() as session, session.begin():
        for name, lane, due in (
            ("a1", "a", clock.now - timedelta(minutes=1)),
            ("a2", "a", clock.now - timedelta(minutes=1)),
            ("b1", "b", clock.now - timedelta(minutes=1)),
            ("c1", "c", clock.now - timedelta(minutes=1)),
            ("a3", "a", clock.now - timedelta(minutes=1)),
            ("b2", "b", clock.now),
        ):
            await session.run_sync(
                enqueue,
                topic="reply:test",
                key=Key(lane, f"msg.{name}"),
                payload={"text": name},
                due=due,
                lane=f"test:{lane}",
            )
    while await dispatcher.run_once():
        pass
    # a1 waits for its retry and holds a2 and a3; b1 was given up, so b2 went out.
    assert delivered == ["c1", "b2"]
    clock.now += timedelta(minutes=2)
    while await dispatcher.run_once():
        pass
    assert delivered == ["c1", "b2", "a1", "a2", "a3"]
    state = {row.payload["text"]: row for row in (await rows(app)).values()}
    assert state["b1"].status == "failed" and state["a1"].attempts == 2
