"""A whole complaint filed over the Telegram webhook in English, photos and contact included."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import select

from bot.cases import get_case
from bot.db.models import Conversation
from dialogues.flows import all_flows
from tests.factories import png_bytes
from tests.integrations.telegram_double import (
    BotApiDouble,
    FakeUser,
    Harness,
    file_case,
    joined,
    running_double,
    telegram_app,
)

pytestmark = pytest.mark.databases("sqlite")


@pytest.fixture
def double() -> Iterator[BotApiDouble]:
    with running_double() as double:
        yield double


@pytest.fixture
async def tg(settings, double: BotApiDouble) -> AsyncIterator[Harness]:  # type: ignore[no-untyped-def]
    async with telegram_app(settings, double) as harness:
        yield harness


@pytest.mark.databases("sqlite", "postgres")
async def test_complaint_over_telegram_in_english(tg: Harness, double: BotApiDouble) -> None:
    user = FakeUser(double, 777001, language_code="en-GB")
    assert "File a complaint" in joined(await tg.say(user.text("/start")))
    assert "What did you buy" in joined(await tg.say(user.callback("/complaint")))
    assert "What brand" in joined(await tg.say(user.text("Bluetooth earphones")))
    assert "model number" in joined(await tg.say(user.text("Sony")))
    sent = await tg.say(user.callback("/skip"))
    assert "Where did you buy it" in joined(sent) and "淘宝" in sent[-1].callback_data
    assert "seller's (shop's) name" in joined(await tg.say(user.callback("淘宝")))
    assert "address or the online shop link" in joined(
        await tg.say(user.text("Best Audio Flagship Store"))
    )
    assert "order number" in joined(await tg.say(user.text("https://shop.example.com/best-audio")))
    assert "When did you buy it" in joined(await tg.say(user.callback("/skip")))
    assert "How much did you pay" in joined(await tg.say(user.text("2025-11-20")))
    assert "describe the problem" in joined(await tg.say(user.text("399")))
    sent = await tg.say(
        user.text("No serial number, the sound is awful and the box is misprinted.")
    )
    assert "What do you want the seller to do" in joined(sent)
    assert "Chosen: Refund" in joined(await tg.say(user.callback("/choice:refund")))
    sent = await tg.say(user.callback("/choice:compensation"))
    assert "/done" in sent[-1].callback_data
    assert "How much compensation" in joined(await tg.say(user.callback("/done")))
    assert "Any photos" in joined(await tg.say(user.text("1197")))

    assert "Photo 1 received" in joined(await tg.say(user.photo(png_bytes(11))))
    assert "Photo 2 received" in joined(
        await tg.say(user.document(png_bytes(12), file_name="order.png"))
    )
    sent = await tg.say(user.text("/done"))
    assert "real name" in joined(sent)

    sent = await tg.say(user.text("Alex Smith"))
    assert "mobile number" in joined(sent)
    keyboard = sent[-1].markup["keyboard"]
    assert keyboard[0][0] == {"text": "📱 Share my phone number", "request_contact": True}
    assert sent[-1].markup["one_time_keyboard"] is True

    assert "contact address" in joined(await tg.say(user.contact("+86 138 1234 5678")))
    offered = joined(await tg.say(user.text("12 Nanjing Road, Huangpu, Shanghai")))
    assert "may ask you for an ID document" in offered
    assert "published" in joined(await tg.say(user.text("no thanks")))
    assert "mediation" in joined(await tg.say(user.callback("/yes")))
    sent = await tg.say(user.callback("/no"))
    summary = joined(sent)
    assert "Please check your complaint" in summary
    assert "13812345678" in summary and "2 photo(s)" in summary and "Refund" in summary
    sent = await tg.say(user.callback("/confirm"))
    assert "Your complaint has been submitted" in joined(sent)
    case_no = sent[-1].text.split("Number: ")[1].split(".")[0]
    assert case_no.startswith("TS")

    async with tg.app.state.sessions() as session:
        case = await get_case(session, case_no)
        conversation = (await session.execute(select(Conversation))).scalar_one()
    assert (
        case is not None
        and case.channel == "telegram"
        and case.sender_id == tg.app.state.senders.sender_id("telegram", str(user.id))
    )
    assert len(case.evidence) == 2
    assert conversation.state.get("lang") == "en"
    assert len(double.of("answerCallbackQuery")) == 10


async def test_typed_cancel_on_the_contact_keyboard_cancels(
    tg: Harness, double: BotApiDouble
) -> None:
    """The contact keyboard turns the Cancel button into a text button; its title still cancels."""
    user = FakeUser(double, 777002)
    await tg.say(user.callback("/complaint"))
    sent = await tg.say(user.text("Cancel"))
    assert "cancelled" in joined(sent)


async def test_typed_phone_number_also_fills_the_phone_slot(
    tg: Harness, double: BotApiDouble
) -> None:
    user = FakeUser(double, 777003)
    answers = [
        "Power bank",
        "/skip",
        "/skip",
        "京东",
        "Shop",
        "Somewhere 1",
        "/skip",
        "2025-10-01",
        "99",
        "It swelled up after a week.",
        "/choice:refund",
        "/done",
        "/skip",
        "Alex Smith",
    ]
    await tg.say(user.callback("/complaint"))
    for answer in answers:
        update = (
            user.callback(answer)
            if answer.startswith("/") or answer == "京东"
            else user.text(answer)
        )
        sent = await tg.say(update)
    assert "mobile number" in joined(sent)
    assert "contact address" in joined(await tg.say(user.text("13912345678")))


async def test_a_shared_contact_from_any_country_fills_the_phone(
    tg: Harness, double: BotApiDouble
) -> None:
    """Telegram sends a contact's number with its country code and often without the "+"."""
    user = FakeUser(double, 777004)
    await tg.say(user.callback("/complaint"))
    for answer in ("Power bank", "/skip", "/skip", "京东", "Shop", "Somewhere 1", "/skip"):
        await tg.say(
            user.callback(answer)
            if answer.startswith("/") or answer == "京东"
            else user.text(answer)
        )
    for answer in ("2025-10-01", "99", "It swelled up after a week.", "/choice:refund", "/done"):
        await tg.say(user.callback(answer) if answer.startswith("/") else user.text(answer))
    await tg.say(user.callback("/skip"))
    assert "mobile number" in joined(await tg.say(user.text("Alex Smith")))
    assert "contact address" in joined(await tg.say(user.contact("85291234567")))
    async with tg.app.state.sessions() as session:
        conversation = (await session.execute(select(Conversation))).scalars().one()
    assert conversation.state["slots"]["phone"] == "+85291234567"


CASE_FLOWS = sorted(name for name, flow in all_flows().items() if flow.case_kind)


async def step_of(tg: Harness) -> str | None:
    async with tg.app.state.sessions() as session:
        conversation = (await session.execute(select(Conversation))).scalar_one()
    return conversation.state.get("step")


@pytest.mark.parametrize("flow_name", CASE_FLOWS)
async def test_every_case_flow_files_a_case_with_photos_in_english(
    tg: Harness, double: BotApiDouble, flow_name: str
) -> None:
    """Complaint now; the report flow (举报) joins automatically when its YAML exists."""
    flow = all_flows()[flow_name]
    case_no = await file_case(tg.say, lambda: step_of(tg), FakeUser(double, 778000), flow)
    async with tg.app.state.sessions() as session:
        case = await get_case(session, case_no)
    assert case is not None and case.channel == "telegram" and case.locale == "en"
    if any(s.type == "photos" for s in flow.steps):
        assert len(case.evidence) == 2
