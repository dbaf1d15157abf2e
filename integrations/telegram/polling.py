"""Long polling for development without a public URL: the same receiver as the webhook."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from datetime import timedelta

from telegram import Update
from telegram.error import Conflict, InvalidToken, TelegramError

from bot.app import create_app
from bot.settings import Settings
from integrations.telegram.adapter import TemporaryFailure
from integrations.telegram.client import ALLOWED_UPDATES
from integrations.telegram.extension import TelegramExtension
from integrations.telegram.runtime import TelegramRuntime

log = logging.getLogger(__name__)
MAX_PAUSE = 30.0
UPDATE_ATTEMPTS = 3


class Poller:
    """``getUpdates`` in a loop; an update is confirmed (offset moves) once it was received."""

    def __init__(self, runtime: TelegramRuntime, *, timeout: int | None = None) -> None:
        self.runtime = runtime
        self.timeout = runtime.settings.poll_timeout if timeout is None else timeout
        self.offset: int | None = None

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        bot = self.runtime.bot
        # getUpdates is refused while a webhook is set; polling means this process takes over.
        await bot.delete_webhook(drop_pending_updates=False)
        pause = 1.0
        while not stop.is_set():
            try:
                updates = await self._next_batch(stop)
            except InvalidToken:
                raise
            except Conflict as exc:
                log.warning("telegram: another poller or a webhook is active (%s)", exc.message)
                await _sleep(stop, MAX_PAUSE)
                continue
            except TelegramError as exc:
                log.warning("telegram: getUpdates failed (%s); pausing %.0fs", exc.message, pause)
                await _sleep(stop, pause)
                pause = min(MAX_PAUSE, pause * 2)
                continue
            pause = 1.0
            for update in updates:
                await self._receive(update, stop)
                self.offset = update.update_id + 1

    async def _next_batch(self, stop: asyncio.Event) -> tuple[Update, ...]:
        """One long poll, abandoned at once when ``stop`` is set."""
        poll = asyncio.ensure_future(
            self.runtime.bot.get_updates(
                offset=self.offset,
                timeout=timedelta(seconds=self.timeout),
                allowed_updates=ALLOWED_UPDATES,
            )
        )
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({poll, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        if not poll.done():
            poll.cancel()
            with suppress(asyncio.CancelledError, TelegramError):
                await poll
            return ()
        return poll.result()

    async def _receive(self, update: Update, stop: asyncio.Event) -> None:
        receiver = self.runtime.receiver
        for attempt in range(1, UPDATE_ATTEMPTS + 1):
            try:
                received = await receiver.receive(update)
            except TemporaryFailure as exc:
                log.warning("telegram update %s attempt %s: %s", update.update_id, attempt, exc)
                await _sleep(stop, float(attempt))
                continue
            except Exception:
                # Skip it rather than stall every user behind one bad update.
                log.exception("telegram update %s failed", update.update_id)
                return
            if received.answer_callback:
                await receiver.answer(received.answer_callback)
            return
        log.error("telegram update %s dropped after %s attempts", update.update_id, UPDATE_ATTEMPTS)


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def run_polling(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    migrate: bool = True,
    on_ready: Callable[[TelegramRuntime], Awaitable[None]] | None = None,
) -> None:
    """The whole app (database, pipeline, outbox dispatcher) with polling instead of HTTP."""
    if not settings.telegram.configured:
        raise RuntimeError("WEIQUAN_TELEGRAM_TOKEN is not set")
    app = create_app(settings, extensions=[TelegramExtension()], migrate=migrate)
    async with app.router.lifespan_context(app):
        runtime: TelegramRuntime = app.state.telegram
        if on_ready is not None:
            await on_ready(runtime)
        await Poller(runtime).run(stop)
