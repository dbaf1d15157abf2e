"""Telegram ``Update`` → channel-neutral ``InboundMessage`` (DESIGN.md, path of a message, step 1).

Nothing here decides what to say: an update becomes either a message for the pipeline, a
channel-level ``Notice`` (private chats only, file too big…), or nothing at all.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from telegram import Document, Message, PhotoSize, Update, User
from telegram.error import BadRequest, TelegramError

from bot.evidence import EvidenceStore, NotAnImage, StoredFile
from bot.messages import InboundMessage
from bot.senders import SenderIds
from integrations.telegram.texts import say

log = logging.getLogger(__name__)
CHANNEL = "telegram"
# Telegram commands the engine knows under another name; others pass through (/done, /skip…).
COMMANDS = {
    "start": "/menu",
    "menu": "/menu",
    "help": "/help",
    "cancel": "/cancel",
    "status": "/status",
}
CALLBACK_DATA_BYTES = 64


@dataclass(frozen=True)
class Notice:
    """A sentence about the channel itself, sent without touching the dialogue."""

    chat_id: int
    text: str


class TemporaryFailure(Exception):
    """Telegram could not hand over a file right now; the update should be delivered again."""


class Unreadable(Exception):
    """PTB accepted the JSON but a field the bot needs is missing or of the wrong type; no
    delivery of it can succeed, so it is refused (400), not retried."""


# What reading a field of the wrong shape raises (PTB does not check types or presence).
SHAPE_ERRORS = (AttributeError, TypeError, ValueError, KeyError, IndexError, OverflowError)


Adapted = InboundMessage | Notice | None


def command_payload(text: str) -> str | None:
    """``/start``, ``/help@WeiquanBot`` … → the engine's payload; None when not a lone command."""
    stripped = text.strip()
    if not stripped.startswith("/") or len(stripped) < 2:
        return None
    head, _, rest = stripped.partition(" ")
    name = head[1:].split("@", 1)[0].lower()
    if name in COMMANDS:
        return COMMANDS[name]  # "/start <deep-link>" still opens the menu
    if rest or not name or len(head.encode()) > CALLBACK_DATA_BYTES:
        return None
    return "/" + name


def _received(message: Message | None) -> datetime:
    when = message.date if message is not None else None
    return when.astimezone(UTC) if when else datetime.now(UTC)


class UpdateAdapter:
    """Turns one update into what the pipeline (or the user) should get."""

    def __init__(self, store: EvidenceStore, senders: SenderIds, *, max_file_bytes: int) -> None:
        self.store = store
        self.senders = senders
        self.max_file_bytes = max_file_bytes

    async def adapt(self, update: Update) -> Adapted:
        """May raise ``TemporaryFailure`` (deliver again later) or ``Unreadable`` (never)."""
        try:
            return await self._adapt(update)
        except SHAPE_ERRORS as exc:
            raise Unreadable(f"{type(exc).__name__} reading update {update.update_id}") from exc

    async def _adapt(self, update: Update) -> Adapted:
        if update.callback_query is not None:
            return self._callback(update)
        if update.edited_message is not None:
            edited = update.edited_message
            if edited.chat.type == "private" and edited.from_user is not None:
                return Notice(edited.chat.id, say(edited.from_user.language_code, "edited"))
            return None
        message = update.message
        if message is None or message.from_user is None:
            return None  # channel posts, member updates, polls, inline queries…
        if message.chat.type != "private":
            # Answer commands once with where the bot works; stay silent on group chatter.
            if message.text and message.text.startswith("/"):
                return Notice(message.chat.id, say(message.from_user.language_code, "private_only"))
            return None
        return await self._private(update.update_id, message, message.from_user)

    def _message(
        self,
        update_id: int,
        message: Message,
        user: User,
        kind: str,
        *,
        text: str = "",
        payload: str | None = None,
        file: StoredFile | None = None,
    ) -> InboundMessage:
        return InboundMessage(
            channel=CHANNEL,
            channel_message_id=str(update_id),
            sender_id=self.senders.sender_id(CHANNEL, str(user.id)),
            address=str(user.id),
            kind=kind,
            text=text,
            payload=payload,
            file=file,
            received_at=_received(message),
            locale=user.language_code,
            inline=False,  # replies leave through the outbox
        )

    def _callback(self, update: Update) -> Adapted:
        query = update.callback_query
        assert query is not None  # noqa: S101 - checked by the caller
        message = query.message if isinstance(query.message, Message) else None
        if message is not None and message.chat.type != "private":
            return None
        # Button data is text; anything else is a forged update, not a press of our button.
        if not isinstance(query.data, str) or not query.data or query.from_user is None:
            return None
        return InboundMessage(
            channel=CHANNEL,
            channel_message_id=str(update.update_id),
            sender_id=self.senders.sender_id(CHANNEL, str(query.from_user.id)),
            address=str(query.from_user.id),
            kind="button",
            payload=query.data,
            received_at=datetime.now(UTC),
            locale=query.from_user.language_code,
            inline=False,
        )

    async def _private(self, update_id: int, message: Message, user: User) -> Adapted:
        lang = user.language_code
        if message.text is not None:
            payload = command_payload(message.text)
            if payload is not None:
                return self._message(update_id, message, user, "text", payload=payload)
            return self._message(update_id, message, user, "text", text=message.text)
        if message.contact is not None:
            if message.contact.user_id != user.id:
                return Notice(message.chat.id, say(lang, "not_own_contact"))
            # The phone step accepts a typed number, so the contact arrives as one. Telegram
            # sends the number with its country code but not always the "+": put it back, so
            # a number from any country reads as international (E.164).
            number = message.contact.phone_number.strip()
            number = number if number.startswith("+") else f"+{number}"
            return self._message(update_id, message, user, "text", text=number)
        if message.location is not None:
            where = f"{message.location.latitude:.6f},{message.location.longitude:.6f}"
            return self._message(update_id, message, user, "location", text=where)
        if message.photo:
            return await self._picture(update_id, message, user, max(message.photo, key=_area))
        if message.document is not None and _looks_like_image(message.document):
            return await self._picture(update_id, message, user, message.document)
        kind = "voice" if (message.voice or message.audio or message.video_note) else "other"
        return self._message(update_id, message, user, kind, text=message.caption or "")

    async def _picture(
        self, update_id: int, message: Message, user: User, media: PhotoSize | Document
    ) -> Adapted:
        too_big = Notice(
            message.chat.id,
            say(user.language_code, "file_too_big", mb=self.max_file_bytes // 2**20),
        )
        if media.file_size and media.file_size > self.max_file_bytes:
            return too_big
        try:
            file = await media.get_file()
            data = bytes(await file.download_as_bytearray())
        except BadRequest as exc:
            # "file is too big" and friends: retrying will not help.
            log.info("telegram refused file of update %s: %s", update_id, exc.message)
            if "too big" in exc.message.lower():
                return too_big
            return Notice(message.chat.id, say(user.language_code, "download_failed"))
        except TelegramError as exc:
            raise TemporaryFailure(f"download failed: {type(exc).__name__}") from exc
        if len(data) > self.max_file_bytes:
            return too_big
        filename = media.file_name if isinstance(media, Document) else None
        caption = message.caption or ""
        try:
            stored = await self.store.save_image(data, filename=filename)
        except NotAnImage:
            return self._message(update_id, message, user, "other", text=caption)
        return self._message(update_id, message, user, "photo", text=caption, file=stored)


def _area(size: PhotoSize) -> int:
    return size.width * size.height


def _looks_like_image(document: Document) -> bool:
    """Pictures sent "as a file" keep full quality; the content is sniffed again on save."""
    mime = (document.mime_type or "").lower()
    name = (document.file_name or "").lower()
    return mime.startswith("image/") or name.endswith(
        (".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".heic", ".heif")
    )
