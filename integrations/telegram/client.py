"""Building the PTB bot from settings: one place that knows URLs, timeouts and rate limits."""

from __future__ import annotations

from typing import Any

from telegram.ext import AIORateLimiter, ExtBot
from telegram.request import HTTPXRequest

from bot.outbox import MAX_RETRY_AFTER_SECONDS
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


def build_bot(settings: TelegramSettings) -> ExtBot[Any]:
    """An ``ExtBot`` pointed at ``base_url`` (Telegram, a self-hosted server, or a test double)."""
    request = BoundedRequest(
        connection_pool_size=16,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        write_timeout=settings.read_timeout,
        pool_timeout=settings.connect_timeout,
    )
    # getUpdates holds its connection open for the long-poll timeout; keep it apart.
    updates_request = BoundedRequest(
        connection_pool_size=1,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
    )
    return ExtBot(
        token=settings.token.get_secret_value(),
        base_url=settings.base_url,
        base_file_url=settings.base_file_url,
        request=request,
        get_updates_request=updates_request,
        local_mode=settings.local_mode,
        # max_retries=0: a RetryAfter reaches the outbox, which reschedules instead of blocking.
        rate_limiter=AIORateLimiter(
            overall_max_rate=settings.overall_max_rate,
            overall_time_period=settings.overall_time_period,
            group_max_rate=20,
            group_time_period=60,
            max_retries=0,
        ),
    )
