"""What the Telegram channel keeps on ``app.state.telegram`` while the app runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from telegram.ext import ExtBot

from integrations.telegram.receiver import UpdateReceiver
from integrations.telegram.settings import TelegramSettings


@dataclass(frozen=True)
class TelegramRuntime:
    bot: ExtBot[Any]
    receiver: UpdateReceiver
    settings: TelegramSettings

    @property
    def secret(self) -> str | None:
        return self.settings.secret.get_secret_value() if self.settings.secret else None
