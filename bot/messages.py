"""The channel-neutral message every adapter builds (DESIGN.md, path of a message, step 1)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.evidence import StoredFile
from dialogues.reading import PhotoReading

# "reading": what was read on a photo sent earlier (bot/photowork.py), not a user's message.
KINDS = {"text", "photo", "reading", "voice", "location", "button", "event", "other"}


@dataclass(frozen=True)
class InboundMessage:
    channel: str
    channel_message_id: str
    sender_id: str
    kind: str
    text: str = ""
    received_at: datetime | None = None
    locale: str | None = None
    payload: str | None = None
    file: StoredFile | None = None
    # Replies travel back in the response (REST, WeChat passive) rather than via the outbox.
    inline: bool = True
    # The peer address of the HTTP request, where the channel has one of the user's own (REST);
    # it counts failed case claims per address. None on channels relayed by a platform.
    client_address: str | None = None
    # The platform id to send to (WeChat openid, Telegram user id) when ``sender_id`` is its
    # keyed hash (bot/senders.py); stored encrypted with the conversation.
    address: str | None = None
    reading: PhotoReading | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown message kind {self.kind!r}")
