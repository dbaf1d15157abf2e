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

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import Case, CaseEvent, OutboxMessage
from bot.outbox import GiveUp, RetryLater
from bot.senders import UnknownAddress, address_of, sender_key
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
        sessions: async_sessionmaker[AsyncSession],
        *,
        max_bytes: int = 2048,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.api = api
        self.sessions = sessions
        self.max_bytes = max_bytes
        self.clock = clock

    def texts(self, payload: dict[str, Any]) -> list[str]:
        """Rows we queued are rendered already; others (staff pushes) carry a raw reply."""
        if payload.get("custom", {}).get("rendered"):
            return [str(payload.get("text", ""))]
        reply = Reply.from_dict(payload)
        return [c for t in render.render_each([reply]) for c in render.split(t, self.max_bytes)]

    async def __call__(self, row: OutboxMessage) -> None:
        recipient = str(row.payload.get("recipient_id") or "")
        if not recipient:
            raise GiveUp("no recipient_id")
        try:
            async with self.sessions() as session:
                openid = await address_of(session, "wechat", recipient)
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

    async def record_unreachable(self, row: OutboxMessage, openid: str, exc: ApiError) -> None:
        """Put it on the case the message was about (or the user's latest case)."""
        case_no = (row.payload.get("custom") or {}).get("case_no")
        async with self.sessions() as session, session.begin():
            stmt = select(Case)
            if case_no:
                stmt = stmt.where(Case.case_no == case_no)
            else:
                senders = [sender_key("wechat", openid), openid]  # hashed, or not yet
                stmt = stmt.where(Case.channel == "wechat", Case.sender_id.in_(senders)).order_by(
                    Case.id.desc()
                )
            case = (await session.execute(stmt.limit(1))).scalar_one_or_none()
            if case is None:
                log.warning("wechat: %s for %s, no case to record it on", UNREACHABLE, row.key)
                return
            session.add(
                CaseEvent(
                    case_id=case.id,
                    kind="channel_unreachable",
                    detail={
                        "channel": "wechat",
                        "errcode": exc.errcode,
                        "message": UNREACHABLE,
                        "outbox_key": row.key,
                    },
                    actor="wechat",
                    at=self.clock(),
                )
            )
