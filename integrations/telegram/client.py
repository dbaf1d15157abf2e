"""Building the PTB bot from settings: one place that knows URLs, timeouts and rate limits."""

from __future__ import annotations

from typing import Any

from telegram.ext import AIORateLimiter, ExtBot
from telegram.request import HTTPXRequest

from integrations.telegram.settings import TelegramSettings

# What the bot asks Telegram for (setWebhook / getUpdates); channel posts never arrive.
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]


def build_bot(settings: TelegramSettings) -> ExtBot[Any]:
    """An ``ExtBot`` pointed at ``base_url`` (Telegram, a self-hosted server, or a test double)."""
    request = HTTPXRequest(
        connection_pool_size=16,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        write_timeout=settings.read_timeout,
        pool_timeout=settings.connect_timeout,
    )
    # getUpdates holds its connection open for the long-poll timeout; keep it apart.
    updates_request = HTTPXRequest(
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
