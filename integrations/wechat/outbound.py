"""Customer-service messages from the outbox: slow replies, long-reply follow-ups, pushes.

Retries are the dispatcher's; this decides which failures are worth retrying. Outside the
48-hour window (45015) a message can never arrive, so the case records that WeChat could
not reach the user and the row stops.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bot.channels import ChannelStore
from bot.outbox import Delivery, GiveUp, RetryLater
from bot.senders import UnknownAddress
from dialogues.model import Reply
from integrations.wechat import render
from integrations.wechat.api import ApiError, WechatApi

log = logging.getLogger(__name__)
OUTSIDE_WINDOW = 45015
# The user cannot receive: unfollowed (43004), bad openid (40003), not allowed (48001),
# too many replies to one message (45047). Retrying cannot help.
PERMANENT = {OUTSIDE_WINDOW, 40003, 43004, 45047, 48001, 40013}
RATE_LIMITED = {45009, 45011}
UNREACHABLE = "could not reach the user by WeChat"


class CustomerServiceSender:
    """The ``reply:wechat`` outbox handler."""

    def __init__(
        self,
        api: WechatApi,
        channels: ChannelStore,
        *,
        max_bytes: int = 2048,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.api = api
        self.channels = channels
        self.max_bytes = max_bytes
        self.clock = clock

    def texts(self, payload: dict[str, Any]) -> list[str]:
        """Rows we queued are rendered already; others (staff pushes) carry a raw reply."""
        if payload.get("custom", {}).get("rendered"):
            return [str(payload.get("text", ""))]
        reply = Reply.from_dict(payload)
        return [c for t in render.render_each([reply]) for c in render.split(t, self.max_bytes)]

    async def __call__(self, row: Delivery) -> None:
        recipient = str(row.payload.get("recipient_id") or "")
        if not recipient:
            raise GiveUp("no recipient_id")
        try:
            openid = await self.channels.address("wechat", recipient)
        except UnknownAddress as exc:
            raise GiveUp(str(exc)) from None
        for text in self.texts(row.payload):
            try:
                await self.api.send_text(openid, text)
            except ApiError as exc:
                if exc.errcode in PERMANENT:
                    if exc.errcode == OUTSIDE_WINDOW:
                        await self.record_unreachable(row, openid, exc)
                    raise GiveUp(str(exc)) from None
                if exc.errcode in RATE_LIMITED:
                    raise RetryLater(str(exc), after=60.0) from None
                raise RetryLater(str(exc)) from None

    async def record_unreachable(self, row: Delivery, openid: str, exc: ApiError) -> None:
        """Put it on the case the message was about (or the user's latest case)."""
        recorded = await self.channels.record_unreachable(
            "wechat",
            [self.channels.senders.sender_id("wechat", openid), openid],  # hashed, or not yet
            case_no=(row.payload.get("custom") or {}).get("case_no"),
            detail={
                "channel": "wechat",
                "errcode": exc.errcode,
                "message": UNREACHABLE,
                "outbox_key": row.key,
            },
            at=self.clock(),
        )
        if not recorded:
            log.warning("wechat: %s for %s, no case to record it on", UNREACHABLE, row.key)
