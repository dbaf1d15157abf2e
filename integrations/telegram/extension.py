"""The Telegram channel as an app extension: the webhook route, the bot, the outbox handler."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from telegram.error import InvalidToken, TelegramError

from integrations.telegram.adapter import UpdateAdapter
from integrations.telegram.client import build_bot
from integrations.telegram.delivery import TOPIC, TelegramDelivery
from integrations.telegram.receiver import UpdateReceiver
from integrations.telegram.runtime import TelegramRuntime
from integrations.telegram.settings import TelegramSettings
from integrations.telegram.webhook import router

log = logging.getLogger(__name__)


class TelegramExtension:
    """Plugs into ``create_app(extensions=[...])``; idle (webhook 403) until a token is set.
    Its settings are the app's ``Settings.telegram``, read when the app's settings are built."""

    name = "telegram"

    def install(self, app: FastAPI) -> None:
        app.include_router(router)

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        settings: TelegramSettings = app.state.settings.telegram
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
            UpdateAdapter(
                app.state.evidence, app.state.senders, max_file_bytes=settings.max_file_bytes
            ),
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
