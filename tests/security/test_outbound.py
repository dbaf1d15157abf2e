"""Outbound calls: https in production, a peer's Retry-After obeyed but bounded, signed hand-offs
that cannot be replayed later."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
import uvicorn
from pydantic import ValidationError
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot import backoffice
from bot.app import create_app
from bot.db.models import OutboxMessage
from bot.outbox import MAX_RETRY_AFTER_SECONDS
from bot.settings import BackofficeSettings, ChatSettings, SecuritySettings, Settings
from integrations.telegram import TelegramExtension, TelegramSettings
from integrations.wechat import WechatExtension
from tests.bot.backoffice_helpers import Clock, office_app, submit_case
from tests.e2e.conftest import free_port
from tests.integrations.telegram_double import (
    BotApiDouble,
    Failure,
    Harness,
    running_double,
    telegram_app,
)
from tests.integrations.wechat_double import wechat_settings

SECRET = "receiver-shared-secret"
HOUR = MAX_RETRY_AFTER_SECONDS


# ---- Retry-After from the back office ---------------------------------------------------


class Office:
    """A back office over real HTTP that answers every delivery with one scripted refusal."""

    def __init__(self) -> None:
        self.status = 503
        self.retry_after = ""
        self.calls = 0

    async def endpoint(self, request: Request) -> Response:
        self.calls += 1
        await request.body()
        return Response("busy", status_code=self.status, headers={"Retry-After": self.retry_after})


@pytest.fixture
async def office() -> AsyncIterator[tuple[Office, int]]:
    office = Office()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            Starlette(routes=[Route("/hook", office.endpoint, methods=["POST"])]),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            ws="none",
        )
    )
    serving = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.02)
    try:
        yield office, port
    finally:
        server.should_exit = True
        await serving


async def handoff_row(app: Any) -> OutboxMessage:
    async with app.state.sessions() as session:
        return (
            await session.execute(
                select(OutboxMessage).where(OutboxMessage.topic == backoffice.TOPIC)
            )
        ).scalar_one()


def http_date(at: datetime) -> str:
    return format_datetime(at, usegmt=True)


# (status, Retry-After as sent, expected wait in seconds: (low, high))
RETRY_AFTER_CASES = [
    (429, str(10**30), (HOUR, HOUR)),  # absurdly long: capped, not an OverflowError
    (503, "9" * 5000, (HOUR, HOUR)),  # too many digits for an int: capped too
    (503, "abc", (1.5, 2.5)),  # unreadable: our own first backoff (2 s ± 20 %)
    (429, "-5", (1.5, 2.5)),  # negative: unreadable, never "retry in the past"
    (503, "120", (120, 120)),
    (503, "DATE+300", (300, 300)),  # an HTTP date five minutes after the sender's clock
    (503, "DATE+86400", (HOUR, HOUR)),  # a date tomorrow: capped
]


@pytest.mark.databases("sqlite")
@pytest.mark.parametrize(("status", "header", "wait"), RETRY_AFTER_CASES)
async def test_backoffice_retry_after_is_obeyed_within_an_hour(
    settings: Settings,
    office: tuple[Office, int],
    status: int,
    header: str,
    wait: tuple[float, float],
) -> None:
    receiver, port = office
    clock = Clock()
    receiver.status = status
    receiver.retry_after = (
        http_date(clock.at + timedelta(seconds=int(header[5:])))
        if header.startswith("DATE")
        else header
    )
    async with office_app(
        settings,
        clock=clock,
        url=f"http://127.0.0.1:{port}/hook",
        secret=SECRET,
    ) as app:
        await submit_case(app, at=clock.at)
        assert await app.state.outbox.run_once() == 1
        row = await handoff_row(app)
    assert receiver.calls == 1
    # The row is rescheduled (not stuck "sending" behind an exception) and says why.
    assert row.status == "pending" and row.attempts == 1
    assert f"HTTP {status}" in (row.last_error or "")
    waited = (row.next_attempt_at - clock.at).total_seconds()
    assert wait[0] <= waited <= wait[1], waited


async def test_the_cap_is_a_setting(settings: Settings, office: tuple[Office, int]) -> None:
    receiver, port = office
    receiver.retry_after = str(10**30)
    clock = Clock()
    capped = settings.model_copy(update={"outbox_max_retry_after_seconds": 600.0})
    async with office_app(
        capped,
        clock=clock,
        url=f"http://127.0.0.1:{port}/hook",
        secret=SECRET,
    ) as app:
        await submit_case(app, at=clock.at)
        while await app.state.outbox.run_once():  # every due row, a user's in order
            pass
        row = await handoff_row(app)
    assert (row.next_attempt_at - clock.at).total_seconds() == 600.0


# ---- Retry-After from Telegram ------------------------------------------------------------


@pytest.fixture
def bot_api() -> Iterator[BotApiDouble]:
    with running_double() as double:
        yield double


@pytest.fixture
async def tg(sqlite_settings: Settings, bot_api: BotApiDouble) -> AsyncIterator[Harness]:
    async with telegram_app(sqlite_settings, bot_api) as harness:
        yield harness


def flood(retry_after: Any) -> Failure:
    return Failure(
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests",
            "parameters": {"retry_after": retry_after},
        },
    )


@pytest.mark.parametrize(
    ("retry_after", "wait", "error"),
    [
        (10**30, (HOUR - 1, HOUR + 1), "flood control"),
        (7, (6, 9), "flood control"),
        ("abc", (1.5, 3.0), "Too Many Requests"),  # no usable wait: our own backoff
        (-5, (1.5, 3.0), "Too Many Requests"),  # never "retry in the past"
    ],
)
async def test_telegram_flood_control_is_bounded(
    tg: Harness, bot_api: BotApiDouble, retry_after: Any, wait: tuple[float, float], error: str
) -> None:
    now = datetime.now(UTC)
    async with tg.app.state.sessions() as session, session.begin():
        session.add(
            OutboxMessage(
                topic="reply:telegram",
                key="flood",
                payload={"recipient_id": "42", "text": "hello", "buttons": [], "custom": {}},
                created_at=now,
                next_attempt_at=now,
            )
        )
    bot_api.failures["sendMessage"] = [flood(retry_after)]
    before = datetime.now(UTC)
    assert await tg.app.state.outbox.run_once() == 1
    async with tg.app.state.sessions() as session:
        row = (
            await session.execute(select(OutboxMessage).where(OutboxMessage.key == "flood"))
        ).scalar_one()
    assert row.status == "pending", row.last_error
    assert error in (row.last_error or ""), row.last_error
    waited = (row.next_attempt_at - before).total_seconds()
    assert wait[0] <= waited <= wait[1], waited
    assert len(bot_api.of("sendMessage")) == 1


# ---- the reference verify() ---------------------------------------------------------------


def test_verify_checks_the_signature_and_the_timestamps_age() -> None:
    body = b'{"schema": "weiquan.case-event/1"}'
    now = 1_796_090_400
    header = backoffice.sign(SECRET, now, body)
    assert backoffice.verify(SECRET, header, body, now=now)
    assert backoffice.verify(SECRET, header, body, now=now + 299)
    # Replayed six minutes later, or stamped in the future: refused though correctly signed.
    assert not backoffice.verify(SECRET, header, body, now=now + 301)
    assert not backoffice.verify(SECRET, header, body, now=now - 301)
    assert backoffice.verify(SECRET, header, body, now=now + 3000, max_age=3600)
    # Against the real clock by default: a signature made an hour ago is stale.
    stale = backoffice.sign(SECRET, int(time.time()) - 3600, body)
    assert not backoffice.verify(SECRET, stale, body)
    assert backoffice.verify(SECRET, backoffice.sign(SECRET, int(time.time()), body), body)
    # And the signature itself still matters.
    assert not backoffice.verify("another-secret", header, body, now=now)
    assert not backoffice.verify(SECRET, header, body + b" ", now=now)
    for broken in ("", "v1=abc", "t=,v1=abc", "t=abc,v1=x", f"t={'9' * 40},v1=x", "t=-1,v1=x"):
        assert not backoffice.verify(SECRET, broken, body, now=now)


# ---- https in production ----------------------------------------------------------------


def production(**sections: Any) -> Settings:
    """Production settings with real secrets and the given sections."""
    real: dict[str, Any] = {
        "security": SecuritySettings(
            secret_key="a-real-production-secret-0123456789",
            pii_key="zXWv8Q1mJ3f0cRk2yq9bQz7Xw3hN5oT6pLrA1sD2fG4=",
        ),
        "backoffice": BackofficeSettings(session_secret="a-real-session-secret-0123456789"),
    }
    return Settings(environment="production", **(real | sections))


def test_core_settings_refuse_an_http_registry_in_production() -> None:
    with pytest.raises(ValidationError, match="WEIQUAN_CCC_REGISTRY_URL must be an https://"):
        production(chat=ChatSettings(ccc_registry_url="http://registry.internal/api"))
    assert production(chat=ChatSettings(ccc_registry_url="https://registry.example/api"))
    # Development and tests may use local http doubles.
    local = ChatSettings(ccc_registry_url="http://127.0.0.1:9/")
    assert Settings(environment="test", chat=local)
    assert Settings(environment="development", chat=local)


def test_backoffice_settings_refuse_an_http_handoff_in_production() -> None:
    with pytest.raises(ValidationError, match="WEIQUAN_BACKOFFICE_URL must be an https://"):
        production(backoffice=BackofficeSettings(url="http://office.example/cases", secret="s"))
    with pytest.raises(ValidationError, match="WEIQUAN_BACKOFFICE_URL must be an https://"):
        production(backoffice=BackofficeSettings(url="office.example/cases", secret="s"))
    with pytest.raises(ValidationError, match="WEIQUAN_BACKOFFICE_SECRET is required"):
        production(backoffice=BackofficeSettings(url="https://office.example/cases"))
    assert production(backoffice=BackofficeSettings(url="https://office.example/cases", secret="s"))
    assert Settings(
        environment="test", backoffice=BackofficeSettings(url="http://127.0.0.1:9/", secret="s")
    )


@pytest.mark.parametrize(
    ("section", "variable"),
    [
        (
            lambda: {"telegram": TelegramSettings(token="1:x", base_url="http://127.0.0.1:9/bot")},
            "WEIQUAN_TELEGRAM_BASE_URL",
        ),
        (
            lambda: {
                "telegram": TelegramSettings(
                    token="1:x",
                    base_url="https://127.0.0.1:9/bot",  # nothing listens: no call leaves
                    base_file_url="http://127.0.0.1:9/file/bot",
                )
            },
            "WEIQUAN_TELEGRAM_BASE_FILE_URL",
        ),
        (
            lambda: {"wechat": wechat_settings(api_base_url="http://127.0.0.1:9/")},
            "WEIQUAN_WECHAT_API_BASE_URL",
        ),
    ],
)
async def test_channels_do_not_start_in_production_with_http_api_urls(
    sqlite_settings: Settings, section: Any, variable: str
) -> None:
    with pytest.raises(ValidationError, match=f"{variable} must be an https://"):
        production(**section())
    # The same channels start in a test environment (local doubles are http).
    local = sqlite_settings.model_copy(update=section())
    extensions = [TelegramExtension(), WechatExtension()]
    app = create_app(local, extensions=extensions, migrate=False, run_outbox=False)
    async with app.router.lifespan_context(app):
        pass
