"""Registering (or removing) the webhook with Telegram, for the ``weiquan telegram`` CLI."""

from __future__ import annotations

from typing import Any

from telegram import BotCommand, WebhookInfo

from integrations.telegram.client import ALLOWED_UPDATES, build_bot
from integrations.telegram.settings import TelegramSettings


async def set_webhook(
    settings: TelegramSettings, url: str, *, drop_pending: bool = False
) -> WebhookInfo:
    """Point Telegram at ``url`` with the configured secret; returns what Telegram now holds."""
    if not settings.configured:
        raise ValueError("WEIQUAN_TELEGRAM_TOKEN is not set")
    if settings.secret is None:
        raise ValueError(
            "WEIQUAN_TELEGRAM_SECRET is not set; the webhook would refuse every update"
        )
    if not url.startswith("https://"):
        raise ValueError("Telegram delivers webhooks only to https:// URLs")
    bot = build_bot(settings)
    async with bot:
        await bot.set_webhook(
            url,
            secret_token=settings.secret.get_secret_value(),
            allowed_updates=ALLOWED_UPDATES,
            drop_pending_updates=drop_pending,
        )
        return await bot.get_webhook_info()


# The bot's command menu (the "/" button), per language; each is a menu payload of
# dialogues/flows/menu.yml (the adapter maps /start to the menu).
COMMANDS: dict[str, list[tuple[str, str]]] = {
    "zh": [
        ("photo", "拍照查验：拍标签、3C证书或商品截图"),
        ("start", "主菜单"),
        ("status", "查进度"),
        ("help", "使用帮助"),
        ("cancel", "取消当前操作"),
    ],
    "en": [
        ("photo", "Check it from a photo: label, CCC mark or listing"),
        ("start", "Main menu"),
        ("status", "Check on a case"),
        ("help", "Help"),
        ("cancel", "Cancel what is in progress"),
    ],
}


async def set_commands(settings: TelegramSettings) -> None:
    """Install the command menu: English for everyone, Chinese for Chinese-language users."""
    if not settings.configured:
        raise ValueError("WEIQUAN_TELEGRAM_TOKEN is not set")
    bot = build_bot(settings)
    async with bot:
        for lang, commands in COMMANDS.items():
            listed = [BotCommand(name, description) for name, description in commands]
            await bot.set_my_commands(listed, language_code=None if lang == "en" else lang)


async def delete_webhook(settings: TelegramSettings) -> bool:
    bot = build_bot(settings)
    async with bot:
        return await bot.delete_webhook()


def describe(info: WebhookInfo) -> dict[str, Any]:
    """The parts of ``getWebhookInfo`` an operator checks after setting the webhook."""
    return {
        "url": info.url,
        "pending_update_count": info.pending_update_count,
        "last_error_message": info.last_error_message,
        "allowed_updates": list(info.allowed_updates or ()),
    }
