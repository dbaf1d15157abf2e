"""Long polling (``weiquan telegram poll``) and webhook registration against the double."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from bot.cases import get_case
from bot.db.models import Conversation, OutboxMessage
from dialogues.flows import all_flows
from integrations.telegram.admin import set_webhook
from integrations.telegram.polling import run_polling
from integrations.telegram.runtime import TelegramRuntime
from tests.integrations.telegram_double import (
    SECRET,
    BotApiDouble,
    Call,
    FakeUser,
    double_settings,
    file_case,
    joined,
    running_double,
)

CASE_FLOWS = sorted(name for name, flow in all_flows().items() if flow.case_kind)


@pytest.fixture
def double() -> Iterator[BotApiDouble]:
    with running_double() as double:
        yield double


class Polling:
    """The poller running as a task; ``say`` queues an update and waits until it is answered."""

    def __init__(self, double: BotApiDouble, runtime: TelegramRuntime) -> None:
        self.double = double
        self.runtime = runtime

    async def settled(self, update_id: int) -> None:
        def confirmed() -> bool:
            return any(
                int(c.params.get("offset") or 0) > update_id for c in self.double.of("getUpdates")
            )

        await self.double.wait_for(confirmed)
        sessions = self.runtime.receiver.pipeline.sessions
        for _ in range(500):
            async with sessions() as session:
                pending = await session.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.status != "sent")
                )
            if not pending:
                return
            await asyncio.sleep(0.02)
        async with sessions() as session:
            stuck = [
                (r.key, r.status, r.attempts, r.last_error, r.next_attempt_at)
                for r in (await session.execute(select(OutboxMessage))).scalars()
                if r.status != "sent"
            ]
        raise AssertionError(f"replies were not delivered: {stuck}")

    async def say(self, update: dict[str, Any]) -> list[Call]:
        before = len(self.double.sent())
        self.double.queue_update(update)
        await self.settled(update["update_id"])
        return self.double.sent()[before:]

    async def step(self) -> str | None:
        async with self.runtime.receiver.pipeline.sessions() as session:
            conversation = (await session.execute(select(Conversation))).scalar_one()
        return conversation.state.get("step")


@pytest.fixture
async def polling(sqlite_settings, double: BotApiDouble) -> AsyncIterator[Polling]:  # type: ignore[no-untyped-def]
    stop = asyncio.Event()
    ready: asyncio.Future[TelegramRuntime] = asyncio.get_running_loop().create_future()

    async def on_ready(runtime: TelegramRuntime) -> None:
        ready.set_result(runtime)

    task = asyncio.create_task(
        run_polling(
            sqlite_settings.model_copy(update={"telegram": double_settings(double)}),
            stop=stop,
            migrate=False,
            on_ready=on_ready,
        )
    )
    runtime = await asyncio.wait_for(ready, 10)
    try:
        yield Polling(double, runtime)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_polling_answers_commands_and_buttons(polling: Polling, double: BotApiDouble) -> None:
    user = FakeUser(double)
    assert "File a complaint" in joined(await polling.say(user.text("/start")))
    callback = user.callback("/complaint")
    assert "What did you buy" in joined(await polling.say(callback))
    answered = [c.params["callback_query_id"] for c in double.of("answerCallbackQuery")]
    assert answered == [callback["callback_query"]["id"]]
    assert double.of("deleteWebhook"), "polling removes a webhook first"
    assert double.of("getUpdates")[0].params["allowed_updates"] == [
        "message",
        "edited_message",
        "callback_query",
    ]


async def test_polling_survives_a_failed_get_updates(
    polling: Polling, double: BotApiDouble
) -> None:
    double.fail_next("getUpdates", "network")
    assert "File a complaint" in joined(await polling.say(FakeUser(double).text("/start")))


@pytest.mark.parametrize("flow_name", CASE_FLOWS)
async def test_case_with_photos_filed_in_polling_mode(
    polling: Polling, double: BotApiDouble, flow_name: str
) -> None:
    flow = all_flows()[flow_name]
    case_no = await file_case(polling.say, polling.step, FakeUser(double, 779000), flow)
    async with polling.runtime.receiver.pipeline.sessions() as session:
        case = await get_case(session, case_no)
    assert case is not None and case.channel == "telegram"
    if any(s.type == "photos" for s in flow.steps):
        assert len(case.evidence) == 2


async def test_set_webhook_registers_url_secret_and_updates(double: BotApiDouble) -> None:
    info = await set_webhook(
        double_settings(double), "https://weiquan.example.org/webhooks/telegram"
    )
    call = double.of("setWebhook")[-1]
    assert call.params["url"] == "https://weiquan.example.org/webhooks/telegram"
    assert call.params["secret_token"] == SECRET
    assert call.params["allowed_updates"] == ["message", "edited_message", "callback_query"]
    assert info.url == "https://weiquan.example.org/webhooks/telegram"


@pytest.mark.parametrize(
    "overrides,url,error",
    [
        ({"secret": None}, "https://x.example/webhooks/telegram", "SECRET"),
        ({}, "http://x.example/webhooks/telegram", "https://"),
        ({"token": ""}, "https://x.example/webhooks/telegram", "TOKEN"),
    ],
)
async def test_set_webhook_refuses_unsafe_setups(
    double: BotApiDouble, overrides: dict[str, Any], url: str, error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        await set_webhook(double_settings(double, **overrides), url)
    assert not double.of("setWebhook")


def test_cli_set_webhook(double: BotApiDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.cli.telegram import app

    for key, value in {
        "TOKEN": double.token,
        "SECRET": SECRET,
        "BASE_URL": double.base_url,
        "BASE_FILE_URL": double.base_file_url,
    }.items():
        monkeypatch.setenv(f"WEIQUAN_TELEGRAM_{key}", value)
    result = CliRunner().invoke(
        app, ["set-webhook", "https://weiquan.example.org/webhooks/telegram"]
    )
    assert result.exit_code == 0, result.output
    assert '"url": "https://weiquan.example.org/webhooks/telegram"' in result.output
    result = CliRunner().invoke(app, ["delete-webhook"])
    assert result.exit_code == 0 and "webhook removed" in result.output


def test_cli_without_token_explains(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.cli.telegram import app

    monkeypatch.delenv("WEIQUAN_TELEGRAM_TOKEN", raising=False)
    result = CliRunner().invoke(app, ["poll"])
    assert result.exit_code == 2


def test_cli_set_commands_puts_photo_check_in_the_menu(
    double: BotApiDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.cli.telegram import app

    monkeypatch.setenv("WEIQUAN_TELEGRAM_TOKEN", double.token)
    monkeypatch.setenv("WEIQUAN_TELEGRAM_BASE_URL", double.base_url)
    result = CliRunner().invoke(app, ["set-commands"])
    assert result.exit_code == 0, result.output
    menus = {
        c.params.get("language_code", ""): json.loads(c.params["commands"])
        for c in double.of("setMyCommands")
    }
    assert menus["zh"][0]["command"] == "photo" and "拍照查验" in menus["zh"][0]["description"]
    assert menus[""][0]["command"] == "photo"
    assert {c["command"] for c in menus[""]} == {"photo", "start", "status", "help", "cancel"}
