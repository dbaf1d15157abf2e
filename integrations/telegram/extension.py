"""The Telegram channel as an app extension: the webhook route, the bot, the outbox handler."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from telegram.error import InvalidToken, TelegramError

from bot.settings import require_https
from integrations.telegram.adapter import UpdateAdapter
from integrations.telegram.client import build_bot
from integrations.telegram.delivery import TOPIC, TelegramDelivery
from integrations.telegram.receiver import UpdateReceiver
from integrations.telegram.runtime import TelegramRuntime
from integrations.telegram.settings import TelegramSettings
from integrations.telegram.webhook import router

log = logging.getLogger(__name__)


class TelegramExtension:
    """Plugs into ``create_app(extensions=[...])``; idle (webhook 403) until a token is set."""

    name = "telegram"

    def __init__(self, settings: TelegramSettings | None = None) -> None:
        # Read from the environment at start-up, not at import or construction time.
        self._settings = settings

    def install(self, app: FastAPI) -> None:
        app.include_router(router)

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        settings = self._settings or TelegramSettings()
        environment = app.state.settings.environment
        require_https(settings.base_url, "WEIQUAN_TELEGRAM_BASE_URL", environment)
        require_https(settings.base_file_url, "WEIQUAN_TELEGRAM_BASE_FILE_URL", environment)
        app.state.telegram = None
        if not settings.configured:
            log.info("telegram: WEIQUAN_TELEGRAM_TOKEN not set, channel disabled")
            yield
            return
        if settings.secret is None:
            log.warning("telegram: WEIQUAN_TELEGRAM_SECRET not set, the webhook refuses every call")
        bot = build_bot(settings)
        try:
            await bot.initialize()
        except InvalidToken:
            log.error("telegram: the bot token was rejected; replies stay queued in the outbox")
        except TelegramError as exc:
            # Telegram being unreachable must not stop the app; the outbox retries later.
            log.warning("telegram: getMe failed at start-up (%s)", type(exc).__name__)
        receiver = UpdateReceiver(
            bot,
            UpdateAdapter(app.state.evidence, max_file_bytes=settings.max_file_bytes),
            app.state.pipeline,
            app.state.pipeline.channels,
            app.state.outbox,
        )
        app.state.outbox.register(TOPIC, TelegramDelivery(bot, app.state.pipeline.channels))
        app.state.telegram = TelegramRuntime(bot=bot, receiver=receiver, settings=settings)
        try:
            yield
        finally:
            await bot.shutdown()
