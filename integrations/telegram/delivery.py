"""Outbox handler for ``reply:telegram``: one stored reply → one or more ``sendMessage`` calls.

Failures are classified for the dispatcher: flood control and network trouble retry later,
a user who blocked the bot (or a request Telegram will never accept) gives up.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

from telegram import Bot, InlineKeyboardMarkup, ReplyKeyboardMarkup
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot.channels import ChannelStore
from bot.outbox import Blocked, Delivery, GiveUp, RetryLater
from bot.senders import UnknownAddress
from dialogues.flows import all_flows
from integrations.telegram.adapter import CHANNEL
from integrations.telegram.client import retry_seconds
from integrations.telegram.markup import contact_keyboard, inline_keyboard
from integrations.telegram.split import split_text
from integrations.telegram.texts import say

log = logging.getLogger(__name__)
TOPIC = f"reply:{CHANNEL}"
INVALID_TOKEN_PAUSE = 300.0


@cache
def phone_steps() -> frozenset[tuple[str, str]]:
    """(flow, slot) pairs that ask for a phone number and so offer the contact button."""
    return frozenset(
        (flow.name, step.slot)
        for flow in all_flows().values()
        for step in flow.steps
        if step.type == "phone"
    )


class TelegramDelivery:
    """Sends outbox rows; remembers how many parts of a split reply already went out."""

    def __init__(self, bot: Bot, channels: ChannelStore) -> None:
        self.bot = bot
        self.channels = channels

    async def __call__(self, row: Delivery) -> None:
        payload: dict[str, Any] = row.payload
        try:
            chat_id = int(await self.channels.address(CHANNEL, str(payload["recipient_id"])))
        except (KeyError, TypeError, ValueError, UnknownAddress):
            raise GiveUp(f"no usable recipient in {row.key}") from None
        parts = split_text(str(payload.get("text") or "")) or [""]
        markup = await self._markup(payload)
        already = int(payload.get("parts_sent", 0))
        for index, part in enumerate(parts):
            if index < already:
                continue
            last = index == len(parts) - 1
            await self._send(chat_id, part, markup if last else None)
            if not last:
                await self._progress(row.id, index + 1)

    async def _markup(
        self, payload: dict[str, Any]
    ) -> InlineKeyboardMarkup | ReplyKeyboardMarkup | None:
        buttons = list(payload.get("buttons") or [])
        custom = payload.get("custom") or {}
        asks_phone = (custom.get("flow"), custom.get("awaiting")) in phone_steps()
        if asks_phone and buttons:
            locale = await self.channels.language(CHANNEL, str(payload["recipient_id"]))
            return contact_keyboard(say(locale, "share_phone"), buttons)
        return inline_keyboard(buttons)

    async def _progress(self, row_id: int, sent: int) -> None:
        await self.channels.note_progress(row_id, parts_sent=sent)

    async def _send(
        self, chat_id: int, text: str, markup: InlineKeyboardMarkup | ReplyKeyboardMarkup | None
    ) -> None:
        try:
            await self.bot.send_message(chat_id, text, reply_markup=markup)
        except RetryAfter as exc:
            raise RetryLater("flood control", after=retry_seconds(exc)) from exc
        except Forbidden as exc:
            raise Blocked(f"forbidden: {exc.message}") from exc  # blocked, deactivated
        except (BadRequest, ChatMigrated) as exc:
            raise GiveUp(f"refused: {exc.message}") from exc  # chat not found, bad markup…
        except InvalidToken as exc:
            raise RetryLater("the bot token was rejected", after=INVALID_TOKEN_PAUSE) from exc
        except NetworkError as exc:
            raise RetryLater(f"network: {exc.message}") from exc
        except TelegramError as exc:
            raise RetryLater(f"{type(exc).__name__}: {exc.message}") from exc
