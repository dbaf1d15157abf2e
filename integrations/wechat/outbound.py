"""Customer-service messages from the outbox: slow replies, long-reply follow-ups, pushes.

Retries are the dispatcher's; this decides which failures are worth retrying. Outside the
48-hour window (45015) a customer-service message can never arrive: an alert then goes as a
subscription message (订阅通知) to a user who agreed in chat, and is recorded as blocked
(not deliverable, never retried) for one who did not; any other message's case records that
WeChat could not reach the user and the row stops.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bot.channels import ChannelStore
from bot.outbox import Blocked, Delivery, GiveUp, RetryLater
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
# The user is out of reach (unfollowed, outside the window): recorded as blocked.
UNREACHABLE_USER = {43004, OUTSIDE_WINDOW}
# Subscription messages: the user refused or withdrew the template (43101), or never
# followed (43004); a template or data WeChat refuses (40037 template id, 47003 data).
SUBSCRIPTION_REFUSED = {43101, 43004}
SUBSCRIPTION_INVALID = {40037, 47003}
# WeChat's limit for a ``thing`` value of a subscription template.
THING_CHARS = 20
UNREACHABLE = "could not reach the user by WeChat"


class CustomerServiceSender:
    """The ``reply:wechat`` outbox handler."""

    def __init__(
        self,
        api: WechatApi,
        channels: ChannelStore,
        *,
        max_bytes: int = 2048,
        template_id: str = "",
        template_fields: list[tuple[str, str]] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.api = api
        self.channels = channels
        self.max_bytes = max_bytes
        self.template_id = template_id
        self.template_fields = template_fields or []
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
        custom = row.payload.get("custom") or {}
        # Alerts and certificate watchers' notices: a subscription message outside the window.
        warning = custom.get("alert") is not None or bool(custom.get("warning"))
        for text in self.texts(row.payload):
            try:
                await self.api.send_text(openid, text)
            except ApiError as exc:
                if exc.errcode == OUTSIDE_WINDOW and warning:
                    # Only the first part can be outside the window: the rest never starts.
                    await self.send_subscription(row, recipient, openid)
                    return
                if exc.errcode in PERMANENT:
                    if exc.errcode == OUTSIDE_WINDOW:
                        await self.record_unreachable(row, openid, exc)
                    if exc.errcode in UNREACHABLE_USER:
                        raise Blocked(str(exc)) from None
                    raise GiveUp(str(exc)) from None
                raise self.later(exc) from None

    @staticmethod
    def later(exc: ApiError) -> RetryLater:
        if exc.errcode in RATE_LIMITED:
            return RetryLater(str(exc), after=60.0)
        return RetryLater(str(exc))

    async def send_subscription(self, row: Delivery, recipient: str, openid: str) -> None:
        """A warning outside the 48-hour window: a subscription message if the user agreed in
        chat and a template is configured; otherwise it cannot be delivered (``Blocked``)."""
        if not self.template_id:
            raise Blocked(f"{OUTSIDE_WINDOW}: outside the 48-hour window, no template set")
        if not await self.channels.consented("wechat", recipient):
            raise Blocked(f"{OUTSIDE_WINDOW}: outside the 48-hour window, no consent")
        custom = row.payload.get("custom") or {}
        source = str(custom.get("source") or "")
        try:
            await self.api.send_subscription(
                openid,
                self.template_id,
                template_data(self.template_fields, custom, str(row.payload.get("text", ""))),
                page=source if source.startswith("https://") else None,
            )
        except ApiError as exc:
            if exc.errcode in SUBSCRIPTION_REFUSED:
                raise Blocked(f"subscription message refused: {exc}") from None
            if exc.errcode in PERMANENT or exc.errcode in SUBSCRIPTION_INVALID:
                raise GiveUp(str(exc)) from None
            raise self.later(exc) from None

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


def template_data(
    fields: list[tuple[str, str]], custom: dict[str, Any], text: str
) -> dict[str, dict[str, str]]:
    """A subscription template's values: ``thing`` keys cut to WeChat's 20 characters."""
    values = {
        "title": str(custom.get("title") or text.split("\n", 1)[0]),
        "text": text,
        "until": str(custom.get("until") or ""),
        "source": str(custom.get("source") or ""),
    }
    data = {}
    for key, what in fields:
        value = values.get(what, "")
        if key.startswith("thing") and len(value) > THING_CHARS:
            value = value[: THING_CHARS - 1] + "…"
        data[key] = {"value": value}
    return data
