"""The Telegram channel (python-telegram-bot v22): webhook, long polling, outbox delivery."""

from integrations.telegram.extension import TelegramExtension
from integrations.telegram.settings import TelegramSettings

__all__ = ["TelegramExtension", "TelegramSettings"]
