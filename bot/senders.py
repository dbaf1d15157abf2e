"""Who a sender is at rest: platform ids (WeChat openid, Telegram user id) stored as a keyed hash.

A conversation is found by ``(channel, sender_id)``; on the hashed channels that sender id is
``h:`` + HMAC-SHA256 of ``channel:platform id`` under the look-up key, and the platform id
itself, needed to send to the person, is kept encrypted in ``conversations.address``. The
look-up key is its own secret, not a personal-data key: rotating those keys must not move
anybody to a new conversation. Changing the look-up key orphans every conversation.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Protocol

# Channels whose sender id is a person's platform identity; REST senders are ids a browser
# chose for itself (chat.js: "web-<uuid>"), which identify nobody.
HASHED_CHANNELS = frozenset({"wechat", "telegram"})
PREFIX = "h:"


class LookupSettings(Protocol):
    @property
    def secret_key(self) -> str: ...
    @property
    def lookup_key(self) -> str | None: ...


def lookup_key_from_settings(settings: LookupSettings) -> bytes:
    """``WEIQUAN_LOOKUP_KEY``, or a key derived from ``WEIQUAN_SECRET_KEY`` when unset."""
    if settings.lookup_key:
        return settings.lookup_key.encode("utf-8")
    return hmac.new(
        settings.secret_key.encode("utf-8"), b"weiquan sender look-up key", hashlib.sha256
    ).digest()


class LookupKeyHolder:
    """The process's look-up key; set at start-up, built from the environment if never set."""

    def __init__(self) -> None:
        self._key: bytes | None = None

    def configure(self, key: bytes) -> None:
        self._key = key

    @property
    def key(self) -> bytes:
        if self._key is None:
            from bot.settings import Settings

            self._key = lookup_key_from_settings(Settings())
        return self._key


LOOKUP = LookupKeyHolder()


def is_hashed(sender_id: str) -> bool:
    return sender_id.startswith(PREFIX)


def sender_key(channel: str, platform_id: str) -> str:
    """The stored sender id of ``platform_id`` (unchanged on channels that are not hashed)."""
    if channel not in HASHED_CHANNELS:
        return platform_id
    digest = hmac.new(LOOKUP.key, f"{channel}:{platform_id}".encode(), hashlib.sha256)
    return PREFIX + digest.hexdigest()[:40]


def shown_sender(channel: str, sender_id: str) -> str:
    """A sender as staff see it: the hash, or a clear platform id (before rotation) masked."""
    if channel not in HASHED_CHANNELS or is_hashed(sender_id):
        return sender_id
    keep = min(4, len(sender_id) // 4)
    return sender_id[:keep] + "*" * (len(sender_id) - 2 * keep) + sender_id[-keep:] if keep else "*"


class UnknownAddress(LookupError):
    """No platform id to send to: no conversation, or its address does not match its hash."""
