"""The engine's buttons as Telegram keyboards (inline, or the contact reply keyboard)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, KeyboardButton, ReplyKeyboardMarkup

from integrations.telegram.adapter import CALLBACK_DATA_BYTES

log = logging.getLogger(__name__)
ROW_CHARS = 24  # short buttons share a row, long ones get their own
ROW_BUTTONS = 3
CANCEL = "/cancel"


def _rows(buttons: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    rows: list[list[dict[str, Any]]] = []
    for button in buttons:
        title = str(button["title"])
        last = rows[-1] if rows else None
        fits = (
            last is not None
            and button["payload"] != CANCEL
            and len(last) < ROW_BUTTONS
            and sum(len(str(b["title"])) for b in last) + len(title) <= ROW_CHARS
        )
        if fits and last is not None:
            last.append(button)
        else:
            rows.append([button])
    return rows


def inline_keyboard(buttons: Sequence[dict[str, Any]]) -> InlineKeyboardMarkup | None:
    """Callback data carries the payload itself, so no table maps buttons back."""
    usable = []
    for button in buttons:
        if len(str(button["payload"]).encode()) > CALLBACK_DATA_BYTES:
            log.warning("button %r dropped: payload over 64 bytes", button["title"])
            continue
        usable.append(button)
    if not usable:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(str(b["title"]), callback_data=str(b["payload"])) for b in row]
            for row in _rows(usable)
        ]
    )


def contact_keyboard(share_label: str, buttons: Sequence[dict[str, Any]]) -> ReplyKeyboardMarkup:
    """The "share my phone number" button; the other buttons become plain text buttons,
    whose titles (e.g. "Cancel") the engine understands as typed words."""
    rows = [[KeyboardButton(share_label, request_contact=True)]]
    rows += [[KeyboardButton(str(b["title"])) for b in row] for row in _rows(buttons)]
    return ReplyKeyboardMarkup(rows, resize_keyboard=True, one_time_keyboard=True)
