"""Telegram settings (``WEIQUAN_TELEGRAM_*``): ``Settings.telegram``, read when the app's
settings are built, never at import time."""

from __future__ import annotations

import re

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Telegram accepts only these characters in a webhook secret token (setWebhook docs).
SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
TELEGRAM_DOWNLOAD_LIMIT = 20 * 1024 * 1024


class TelegramSettings(BaseSettings):
    """What an operator sets to connect a bot; defaults talk to Telegram's public Bot API."""

    model_config = SettingsConfigDict(env_prefix="WEIQUAN_TELEGRAM_", extra="ignore")

    token: SecretStr = Field(default=SecretStr(""), description="BotFather token")
    secret: SecretStr | None = Field(
        default=None, description="X-Telegram-Bot-Api-Secret-Token the webhook must carry"
    )
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    # A self-hosted Bot API server in --local mode returns file paths on its own disk.
    local_mode: bool = False
    # Bot API servers refuse getFile above 20 MB; a local server allows more.
    max_file_bytes: int = TELEGRAM_DOWNLOAD_LIMIT
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    poll_timeout: int = 30
    # Telegram's documented limits (client.PacedLimiter): 30 messages/s for the bot, and
    # about 1/s in one chat, averaged over 3 s so that a reply of up to three messages is
    # not spread over three seconds (Telegram tolerates such short bursts).
    overall_max_rate: float = 30.0
    overall_time_period: float = 1.0
    chat_max_rate: float = 3.0
    chat_time_period: float = 3.0

    @field_validator("secret", mode="after")
    @classmethod
    def _secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if not SECRET_TOKEN.match(value.get_secret_value()):
            raise ValueError(
                "WEIQUAN_TELEGRAM_SECRET may contain only A-Z, a-z, 0-9, _ and - (1–256)"
            )
        return value

    @property
    def configured(self) -> bool:
        return bool(self.token.get_secret_value())
