"""The Telegram channel (python-telegram-bot v22): webhook, long polling, outbox delivery.

``TelegramSettings`` is a section of ``bot.settings.Settings``, which imports it from here; the
extension (which reaches the rest of the app) is loaded on first use so that import stays
free of cycles.
"""

from typing import TYPE_CHECKING

from integrations.telegram.settings import TelegramSettings

if TYPE_CHECKING:
    from integrations.telegram.extension import TelegramExtension

__all__ = ["TelegramExtension", "TelegramSettings"]


def __getattr__(name: str) -> object:
    if name == "TelegramExtension":
        from integrations.telegram.extension import TelegramExtension

        return TelegramExtension
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
