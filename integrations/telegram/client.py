"""Building the PTB bot from settings: one place that knows URLs, timeouts and rate limits."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from aiolimiter import AsyncLimiter
from telegram.error import RetryAfter
from telegram.ext import AIORateLimiter, ExtBot
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from bot.outbox import MAX_RETRY_AFTER_SECONDS
from bot.tls import client_tls
from integrations.telegram.settings import TelegramSettings

# What the bot asks Telegram for (setWebhook / getUpdates); channel posts never arrive.
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]


class BoundedRequest(HTTPXRequest):
    """PTB's HTTPX request with a sane flood-control wait: PTB turns ``retry_after`` into a
    timedelta, which overflows on a huge number and fails on a string, so an answer's
    ``retry_after`` is cut to an hour, and dropped (plain retry) when it is not a number."""

    @staticmethod
    def parse_json_payload(payload: bytes) -> dict[str, Any]:
        data: dict[str, Any] = HTTPXRequest.parse_json_payload(payload)
        parameters = data.get("parameters") if isinstance(data, dict) else None
        if isinstance(parameters, dict) and "retry_after" in parameters:
            value = parameters.pop("retry_after")
            if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
                parameters["retry_after"] = int(min(value, MAX_RETRY_AFTER_SECONDS)) or 1
        return data


def retry_seconds(exc: RetryAfter) -> float:
    """``RetryAfter.retry_after`` as seconds (PTB 22 warns while it moves int → timedelta)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class PacedLimiter(AIORateLimiter):
    """PTB's limiter (30 messages/s for the whole bot, 20/min per group) plus Telegram's
    "about one message per second" in a private chat, which PTB leaves to the overall rate.

    Every call goes through it, whoever makes it (outbox rows, alerts, webhook answers), so
    the pace holds for the bot as a whole within one process. A 429 is not retried here
    (``max_retries=0``): its RetryAfter reaches the outbox, which reschedules that row for
    the time Telegram asked instead of holding the dispatcher.
    """

    def __init__(self, *, chat_max_rate: float, chat_time_period: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._chat_rate = (chat_max_rate, chat_time_period)
        self._chats: dict[int, AsyncLimiter] = {}

    def _chat_limiter(self, chat_id: int) -> AsyncLimiter:
        if len(self._chats) > 4096:
            # Forget chats whose bucket has drained (a full bucket allows a full burst again).
            for key, limiter in list(self._chats.items()):
                if limiter.has_capacity(limiter.max_rate):
                    del self._chats[key]
        if chat_id not in self._chats:
            self._chats[chat_id] = AsyncLimiter(*self._chat_rate)
        return self._chats[chat_id]

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Any]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        limiter: contextlib.AbstractAsyncContextManager[Any] = contextlib.nullcontext()
        with contextlib.suppress(TypeError, ValueError):
            chat_id = int(data.get("chat_id"))  # type: ignore[arg-type]
            if chat_id > 0 and all(self._chat_rate):  # a private chat
                limiter = self._chat_limiter(chat_id)
        async with limiter:
            return await super().process_request(
                callback, args, kwargs, endpoint, data, rate_limit_args
            )


def build_bot(settings: TelegramSettings) -> ExtBot[Any]:
    """An ``ExtBot`` pointed at ``base_url`` (Telegram, a self-hosted server, or a test double)."""
    request = BoundedRequest(
        connection_pool_size=16,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        write_timeout=settings.read_timeout,
        pool_timeout=settings.connect_timeout,
        httpx_kwargs={"verify": client_tls()},
    )
    # getUpdates holds its connection open for the long-poll timeout; keep it apart.
    updates_request = BoundedRequest(
        connection_pool_size=1,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        httpx_kwargs={"verify": client_tls()},
    )
    return ExtBot(
        token=settings.token.get_secret_value(),
        base_url=settings.base_url,
        base_file_url=settings.base_file_url,
        request=request,
        get_updates_request=updates_request,
        local_mode=settings.local_mode,
        # max_retries=0: a RetryAfter reaches the outbox, which reschedules instead of blocking.
        rate_limiter=PacedLimiter(
            overall_max_rate=settings.overall_max_rate,
            overall_time_period=settings.overall_time_period,
            group_max_rate=20,
            group_time_period=60,
            max_retries=0,
            chat_max_rate=settings.chat_max_rate,
            chat_time_period=settings.chat_time_period,
        ),
    )
