"""The webhook route: secret check, bad input, every kind of update, redelivery."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from bot.db.models import Evidence, InboundMessage, OutboxMessage
from integrations.telegram import TelegramSettings
from integrations.telegram.adapter import command_payload
from tests.factories import png_bytes
from tests.integrations.telegram_double import (
    BotApiDouble,
    FakeUser,
    Harness,
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


async def count(tg: Harness, model: type) -> int:
    async with tg.app.state.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_start_opens_the_english_menu_with_inline_buttons(
    tg: Harness, double: BotApiDouble
) -> None:
    user = FakeUser(double)
    sent = await tg.say(user.text("/start"))
    assert len(sent) == 1
    assert sent[0].params["chat_id"] == user.id
    assert "File a complaint" in sent[0].text
    assert "/complaint" in sent[0].callback_data
    assert double.of("getMe"), "the bot initialises against the double"


async def test_chinese_user_gets_chinese_menu(tg: Harness, double: BotApiDouble) -> None:
    sent = await tg.say(FakeUser(double, 555002, language_code="zh-hans").text("/start"))
    assert "投诉" in sent[0].text


@pytest.mark.parametrize("secret", [None, "wrong-secret", ""])
async def test_missing_or_wrong_secret_is_refused(
    tg: Harness, double: BotApiDouble, secret: str | None
) -> None:
    response = await tg.post(FakeUser(double).text("hello"), secret=secret)
    assert response.status_code == 403
    assert await count(tg, InboundMessage) == 0


async def test_without_a_configured_secret_every_call_is_refused(
    settings, double: BotApiDouble
) -> None:  # type: ignore[no-untyped-def]
    async with telegram_app(settings, double, secret=None) as tg:
        response = await tg.post(FakeUser(double).text("hello"), secret="anything")
        assert response.status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe",
        b"[1, 2]",
        b'"text"',
        b'{"message": {"text": "no update id"}}',
        b'{"update_id": "abc"}',
        b'{"update_id": 5, "message": {"text": "no chat"}}',
    ],
)
async def test_malformed_bodies_get_400_and_store_nothing(tg: Harness, body: bytes) -> None:
    response = await tg.post(body)
    assert response.status_code == 400
    assert await count(tg, InboundMessage) == 0
    assert await count(tg, OutboxMessage) == 0


@pytest.mark.databases("sqlite", "postgres")
async def test_redelivered_update_changes_nothing(tg: Harness, double: BotApiDouble) -> None:
    update = FakeUser(double).text("/start")
    first = await tg.say(update)
    again = await tg.say(update)
    assert len(first) == 1 and again == []
    assert await count(tg, InboundMessage) == 1
    assert await count(tg, OutboxMessage) == 1


async def test_callback_button_is_a_payload_and_gets_answered(
    tg: Harness, double: BotApiDouble
) -> None:
    user = FakeUser(double)
    await tg.say(user.text("/start"))
    update = user.callback("/complaint")
    sent = await tg.say(update)
    assert any("What did you buy" in c.text for c in sent)
    answers = double.of("answerCallbackQuery")
    assert [a.params["callback_query_id"] for a in answers] == [update["callback_query"]["id"]]
    await tg.say(update)  # redelivered: no second answer, no second reply
    assert len(double.of("answerCallbackQuery")) == 1


@pytest.mark.parametrize(
    "command,expected",
    [
        ("/help", "Weiquan can"),
        ("/cancel", "nothing in progress"),
        ("/start@WeiquanTestBot", "What would you like to do"),
    ],
)
async def test_commands(tg: Harness, double: BotApiDouble, command: str, expected: str) -> None:
    sent = await tg.say(FakeUser(double).text(command))
    assert expected in "\n".join(c.text for c in sent)


async def test_status_command_passes_through(tg: Harness, double: BotApiDouble) -> None:
    user = FakeUser(double)
    await tg.say(user.text("/status"))
    async with tg.app.state.sessions() as session:
        row = (await session.execute(select(InboundMessage))).scalar_one()
    assert row.content["payload"] == "/status"


@pytest.mark.databases("sqlite", "postgres")
async def test_photo_outside_a_flow_is_stored_as_evidence(
    tg: Harness, double: BotApiDouble
) -> None:
    data = png_bytes(7)
    sent = await tg.say(FakeUser(double).photo(data, caption="the fake box"))
    assert "Photo received" in sent[0].text
    async with tg.app.state.sessions() as session:
        evidence = (await session.execute(select(Evidence))).scalar_one()
        inbound = (await session.execute(select(InboundMessage))).scalar_one()
    assert tg.app.state.evidence.read(evidence.sha256) == data
    assert evidence.source == "telegram"
    assert inbound.content["text"] == "the fake box"
    downloads = double.of("download")
    assert len(downloads) == 1, "only the largest size is downloaded"


async def test_image_sent_as_document_is_evidence(tg: Harness, double: BotApiDouble) -> None:
    await tg.say(FakeUser(double).document(png_bytes(3)))
    assert await count(tg, Evidence) == 1


async def test_non_image_document_is_not_stored(tg: Harness, double: BotApiDouble) -> None:
    sent = await tg.say(
        FakeUser(double).document(b"%PDF-1.4 ...", file_name="a.pdf", mime_type="application/pdf")
    )
    assert "only handle text and photos" in sent[0].text
    assert await count(tg, Evidence) == 0
    assert not double.of("download")


async def test_image_named_file_with_other_content_is_not_stored(
    tg: Harness, double: BotApiDouble
) -> None:
    sent = await tg.say(
        FakeUser(double).document(
            b"not a picture at all", file_name="x.jpg", mime_type="image/jpeg"
        )
    )
    assert "only handle text and photos" in sent[0].text
    assert await count(tg, Evidence) == 0


@pytest.mark.parametrize("refused_by_telegram", [False, True])
async def test_photo_over_20_mb_is_explained(
    tg: Harness, double: BotApiDouble, refused_by_telegram: bool
) -> None:
    user = FakeUser(double)
    update = (
        user.photo(png_bytes(1), refuse_too_big=True)
        if refused_by_telegram
        else user.photo(png_bytes(1), file_size=21 * 1024 * 1024)
    )
    sent = await tg.say(update)
    assert len(sent) == 1 and "over 20 MB" in sent[0].text
    assert await count(tg, Evidence) == 0
    assert await tg.say(update) == [], "the explanation is sent once per update"


@pytest.mark.databases("sqlite", "postgres")
async def test_download_failure_asks_telegram_to_redeliver(
    tg: Harness, double: BotApiDouble
) -> None:
    update = FakeUser(double).photo(png_bytes(2))
    double.fail_next("getFile", "network")
    response = await tg.post(update)
    assert response.status_code == 503
    assert await count(tg, InboundMessage) == 0
    await tg.say(update)
    assert await count(tg, Evidence) == 1


async def test_location_is_a_location_message(tg: Harness, double: BotApiDouble) -> None:
    sent = await tg.say(FakeUser(double).location(31.2304, 121.4737))
    async with tg.app.state.sessions() as session:
        row = (await session.execute(select(InboundMessage))).scalar_one()
    assert row.kind == "location"
    assert row.content["text"] == "31.230400,121.473700"
    assert "only handle text and photos" in sent[0].text


@pytest.mark.parametrize("kind,make", [("voice", FakeUser.voice), ("other", FakeUser.sticker)])
async def test_voice_and_stickers_are_recorded_and_answered(
    tg: Harness, double: BotApiDouble, kind: str, make
) -> None:  # type: ignore[no-untyped-def]
    sent = await tg.say(make(FakeUser(double)))
    async with tg.app.state.sessions() as session:
        row = (await session.execute(select(InboundMessage))).scalar_one()
    assert row.kind == kind
    assert "only handle text and photos" in sent[0].text


async def test_foreign_contact_is_refused_politely(tg: Harness, double: BotApiDouble) -> None:
    sent = await tg.say(FakeUser(double).contact("+8613800000000", own=False))
    assert "not yours" in sent[0].text
    assert await count(tg, InboundMessage) == 0


async def test_edited_message_gets_one_sentence(tg: Harness, double: BotApiDouble) -> None:
    sent = await tg.say(FakeUser(double).edited("changed my mind"))
    assert len(sent) == 1 and "edits" in sent[0].text
    assert await count(tg, InboundMessage) == 0


async def test_group_chats_get_one_sentence_for_commands_and_silence_otherwise(
    tg: Harness, double: BotApiDouble
) -> None:
    user = FakeUser(double)
    assert await tg.say(user.in_group("hello everyone")) == []
    sent = await tg.say(user.in_group("/start"))
    assert len(sent) == 1 and "private chats" in sent[0].text
    assert sent[0].params["chat_id"] == -100777
    assert await count(tg, InboundMessage) == 0


async def test_channel_posts_and_unknown_updates_are_ignored(
    tg: Harness, double: BotApiDouble
) -> None:
    post = {
        "update_id": double.next_id(),
        "channel_post": {
            "message_id": 1,
            "date": 1700000000,
            "chat": {"id": -1001, "type": "channel", "title": "News"},
            "text": "hi",
        },
    }
    assert (await tg.post(post)).status_code == 200
    assert (await tg.post({"update_id": double.next_id()})).status_code == 200
    await tg.deliver()
    assert double.sent() == []
    assert await count(tg, InboundMessage) == 0


@pytest.mark.parametrize(
    "text,payload",
    [
        ("/start", "/menu"),
        ("/start deep-link-42", "/menu"),
        ("/HELP@WeiquanTestBot", "/help"),
        ("/cancel", "/cancel"),
        ("/status", "/status"),
        ("/done", "/done"),
        ("/confirm", "/confirm"),
        ("/done please", None),
        ("hello /start", None),
        ("/", None),
        ("/" + "x" * 70, None),
    ],
)
def test_command_payloads(text: str, payload: str | None) -> None:
    assert command_payload(text) == payload


@pytest.mark.parametrize("secret", ["has space", "semi;colon", "x" * 257, "中文"])
def test_secrets_telegram_would_refuse_are_rejected_at_start(secret: str) -> None:
    with pytest.raises(ValidationError):
        TelegramSettings(token="1:x", secret=secret)


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEIQUAN_TELEGRAM_TOKEN", "1:abc")
    monkeypatch.setenv("WEIQUAN_TELEGRAM_SECRET", "Abc_123-xyz")
    monkeypatch.setenv("WEIQUAN_TELEGRAM_BASE_URL", "http://127.0.0.1:8081/bot")
    settings = TelegramSettings()
    assert settings.configured and settings.base_url == "http://127.0.0.1:8081/bot"
    assert settings.secret is not None and settings.secret.get_secret_value() == "Abc_123-xyz"
    assert "1:abc" not in repr(settings)


async def test_app_starts_with_the_channel_disabled_when_no_token(settings) -> None:  # type: ignore[no-untyped-def]
    from bot.app import create_app
    from integrations.telegram import TelegramExtension

    app = create_app(
        settings.model_copy(update={"telegram": TelegramSettings(token="")}),
        extensions=[TelegramExtension()],
        migrate=False,
        run_outbox=False,
    )
    async with app.router.lifespan_context(app):
        assert app.state.telegram is None
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://weiquan.test") as http:
            response = await http.post(
                "/webhooks/telegram",
                json={"update_id": 1},
                headers={"X-Telegram-Bot-Api-Secret-Token": "anything"},
            )
        assert response.status_code == 403


async def test_app_starts_even_when_telegram_is_unreachable(settings) -> None:  # type: ignore[no-untyped-def]
    from bot.app import create_app
    from integrations.telegram import TelegramExtension

    unreachable = TelegramSettings(
        token="1:x", secret="abc", base_url="http://127.0.0.1:9/bot", connect_timeout=0.5
    )
    app = create_app(
        settings.model_copy(update={"telegram": unreachable}),
        extensions=[TelegramExtension()],
        migrate=False,
        run_outbox=False,
    )
    async with app.router.lifespan_context(app):
        assert app.state.telegram is not None
        assert "reply:telegram" in app.state.outbox.handlers
