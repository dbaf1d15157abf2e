"""Outbox delivery to Telegram: splitting, keyboards, retries, giving up."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.db.models import OutboxMessage
from integrations.telegram import TelegramSettings
from integrations.telegram.split import MESSAGE_LIMIT, split_text, utf16_len
from tests.integrations.telegram_double import (
    BotApiDouble,
    FakeUser,
    Harness,
    running_double,
    telegram_app,
)

# PTB 22 itself reads RetryAfter.retry_after while building the exception (int → timedelta move).
pytestmark = pytest.mark.filterwarnings(
    "ignore:Deprecated since version v22.2:telegram.warnings.PTBDeprecationWarning"
)


@pytest.fixture
def double() -> Iterator[BotApiDouble]:
    with running_double() as double:
        yield double


@pytest.fixture
async def tg(sqlite_settings, double: BotApiDouble) -> AsyncIterator[Harness]:  # type: ignore[no-untyped-def]
    paced = TelegramSettings.model_fields  # Telegram's limits, as in production
    async with telegram_app(
        sqlite_settings,
        double,
        chat_max_rate=paced["chat_max_rate"].default,
        chat_time_period=paced["chat_time_period"].default,
    ) as harness:
        yield harness


async def queue(tg: Harness, key: str, payload: dict) -> None:  # type: ignore[type-arg]
    now = datetime.now(UTC)
    async with tg.app.state.sessions() as session, session.begin():
        session.add(
            OutboxMessage(
                topic="reply:telegram",
                key=key,
                payload=payload,
                created_at=now,
                next_attempt_at=now,
            )
        )


async def row(tg: Harness, key: str) -> OutboxMessage:
    async with tg.app.state.sessions() as session:
        return (
            await session.execute(select(OutboxMessage).where(OutboxMessage.key == key))
        ).scalar_one()


def later(tg: Harness, minutes: int = 120) -> None:
    """Move the dispatcher's clock on so that rescheduled rows are due."""
    tg.app.state.outbox.clock = lambda: datetime.now(UTC) + timedelta(minutes=minutes)


def long_text(sentences: int = 300) -> str:
    return " ".join(
        f"Sentence number {i} explains one more detail of the rules." for i in range(sentences)
    )


async def test_long_reply_is_split_at_sentence_boundaries_with_buttons_on_the_last(
    tg: Harness, double: BotApiDouble
) -> None:
    text = long_text()
    await queue(
        tg,
        "k1",
        {
            "recipient_id": "42",
            "text": text,
            "buttons": [{"title": "Menu", "payload": "/menu"}],
            "custom": {},
        },
    )
    await tg.deliver()
    sent = double.sent(42)
    assert len(sent) == 5
    assert all(len(c.text) <= MESSAGE_LIMIT and c.text.endswith("rules.") for c in sent)
    assert " ".join(c.text for c in sent) == text
    assert [bool(c.markup) for c in sent] == [False] * 4 + [True]
    assert (await row(tg, "k1")).status == "sent"


async def test_failure_midway_does_not_resend_earlier_parts(
    tg: Harness, double: BotApiDouble
) -> None:
    await queue(tg, "k3", {"recipient_id": "42", "text": long_text(), "buttons": [], "custom": {}})
    double.fail_next("sendMessage", "network", after=2)
    await tg.deliver()
    stored = await row(tg, "k3")
    assert stored.status == "pending" and stored.payload["parts_sent"] == 2
    later(tg)
    await tg.deliver()
    texts = [c.text for c in double.sent(42)]
    assert len(texts) == 6 and texts[2] == texts[3], "part 3 failed once and was retried alone"
    assert len(set(texts)) == 5
    assert (await row(tg, "k3")).status == "sent"


async def test_flood_control_reschedules_after_the_requested_time(
    tg: Harness, double: BotApiDouble
) -> None:
    await queue(tg, "k4", {"recipient_id": "42", "text": "hello", "buttons": [], "custom": {}})
    double.fail_next("sendMessage", "retry_after", retry_after=7)
    before = datetime.now(UTC)
    await tg.deliver()
    stored = await row(tg, "k4")
    assert stored.status == "pending"
    assert "flood control" in (stored.last_error or "")
    waited = (stored.next_attempt_at.replace(tzinfo=UTC) - before).total_seconds()
    assert 6 <= waited <= 9
    later(tg)
    await tg.deliver()
    assert (await row(tg, "k4")).status == "sent"
    assert [c.text for c in double.sent(42)] == ["hello", "hello"]


@pytest.mark.parametrize(("kind", "status"), [("blocked", "blocked"), ("bad_request", "failed")])
async def test_blocked_user_or_missing_chat_gives_up(
    tg: Harness, double: BotApiDouble, kind: str, status: str
) -> None:
    await queue(tg, "k5", {"recipient_id": "42", "text": "hello", "buttons": [], "custom": {}})
    double.fail_next("sendMessage", kind)
    await tg.deliver()
    stored = await row(tg, "k5")
    assert stored.status == status and stored.attempts == 1
    later(tg)
    assert await tg.deliver() == 0  # never tried again


async def test_one_chat_gets_about_one_message_a_second(tg: Harness, double: BotApiDouble) -> None:
    """Telegram's limit in one chat: a short burst (a reply of three messages) goes at once,
    then about one a second, in order."""
    for n in range(6):
        text = f"m{n}"
        await queue(tg, f"p{n}", {"recipient_id": "42", "text": text, "buttons": [], "custom": {}})
    await tg.deliver()
    to_42 = [at for at, chat, _ in double.accepted if chat == 42]
    assert [t for _, chat, t in double.accepted if chat == 42] == [f"m{n}" for n in range(6)]
    assert to_42[5] - to_42[0] >= 2.9  # three at once, then one a second


async def test_reply_is_retried_after_a_failed_send(tg: Harness, double: BotApiDouble) -> None:
    user = FakeUser(double)
    double.fail_next("sendMessage", "network")
    response = await tg.post(user.text("/start"))
    assert response.status_code == 200
    await tg.deliver()
    assert len(double.sent(user.id)) == 1  # the failed attempt
    later(tg)
    await tg.deliver()
    sent = double.sent(user.id)
    assert len(sent) == 2 and sent[0].text == sent[1].text
    assert "File a complaint" in sent[1].text


async def test_buttons_with_payloads_over_64_bytes_are_dropped(
    tg: Harness, double: BotApiDouble
) -> None:
    buttons = [{"title": "ok", "payload": "/yes"}, {"title": "long", "payload": "/" + "x" * 64}]
    await queue(tg, "k6", {"recipient_id": "42", "text": "pick", "buttons": buttons, "custom": {}})
    await tg.deliver()
    assert double.sent(42)[0].callback_data == ["/yes"]


async def test_cancel_button_gets_its_own_row(tg: Harness, double: BotApiDouble) -> None:
    buttons = [{"title": t, "payload": t} for t in ["淘宝", "天猫", "京东", "拼多多"]]
    buttons.append({"title": "Cancel", "payload": "/cancel"})
    await queue(
        tg, "k7", {"recipient_id": "42", "text": "where?", "buttons": buttons, "custom": {}}
    )
    await tg.deliver()
    rows = double.sent(42)[0].markup["inline_keyboard"]
    assert [len(r) for r in rows] == [3, 1, 1]
    assert rows[-1][0]["callback_data"] == "/cancel"


def test_split_prefers_sentence_ends_and_counts_utf16() -> None:
    zh = "这是一个关于假冒商品的句子。" * 400
    parts = split_text(zh)
    assert all(utf16_len(p) <= MESSAGE_LIMIT and p.endswith("。") for p in parts)
    assert "".join(parts) == zh
    emoji = "🙂" * 3000  # 6,000 UTF-16 units, no boundary at all
    parts = split_text(emoji)
    assert [utf16_len(p) for p in parts] == [4096, 1904]
    assert split_text("short") == ["short"]
    paragraphs = ("a" * 3000) + "\n\n" + ("b" * 3000)
    assert split_text(paragraphs) == ["a" * 3000, "b" * 3000]
