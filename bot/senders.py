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
from dataclasses import dataclass, field
from typing import Protocol

# Channels whose sender id is a person's platform identity; REST senders are ids a browser
# chose for itself (chat.js: "web-<uuid>"), which identify nobody.
HASHED_CHANNELS = frozenset({"wechat", "telegram"})
PREFIX = "h:"


class LookupSources(Protocol):
    """Where the look-up key is configured (``Settings.security``)."""

    @property
    def secret_key(self) -> str: ...
    @property
    def lookup_key(self) -> str | None: ...


class LookupSettings(Protocol):
    @property
    def security(self) -> LookupSources: ...


def lookup_key_from_settings(settings: LookupSettings) -> bytes:
    """``WEIQUAN_LOOKUP_KEY``, or a key derived from ``WEIQUAN_SECRET_KEY`` when unset."""
    configured = settings.security
    if configured.lookup_key:
        return configured.lookup_key.encode("utf-8")
    return hmac.new(
        configured.secret_key.encode("utf-8"), b"weiquan sender look-up key", hashlib.sha256
    ).digest()


@dataclass(frozen=True)
class SenderIds:
    """The stored sender ids of one app, under its look-up key; built with the app and handed
    to the channel adapters and the storage that checks an address against its hash."""

    key: bytes = field(repr=False)

    @classmethod
    def from_settings(cls, settings: LookupSettings) -> SenderIds:
        return cls(lookup_key_from_settings(settings))

    def sender_id(self, channel: str, platform_id: str) -> str:
        """The stored sender id of ``platform_id`` (unchanged on channels that are not hashed)."""
        if channel not in HASHED_CHANNELS:
            return platform_id
        digest = hmac.new(self.key, f"{channel}:{platform_id}".encode(), hashlib.sha256)
        return PREFIX + digest.hexdigest()[:40]


def is_hashed(sender_id: str) -> bool:
    return sender_id.startswith(PREFIX)


def shown_sender(channel: str, sender_id: str) -> str:
    """A sender as staff see it: the hash, or a clear platform id (before rotation) masked."""
    if channel not in HASHED_CHANNELS or is_hashed(sender_id):
        return sender_id
    keep = min(4, len(sender_id) // 4)
    return sender_id[:keep] + "*" * (len(sender_id) - 2 * keep) + sender_id[-keep:] if keep else "*"


class UnknownAddress(LookupError):
    """No platform id to send to: no conversation, or its address does not match its hash."""
