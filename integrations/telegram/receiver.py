"""One place where an update enters the system, shared by the webhook route and the poller."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot, Update
from telegram.error import TelegramError

from bot.db.models import OutboxMessage
from bot.messages import InboundMessage
from bot.outbox import OutboxDispatcher
from bot.pipeline import Pipeline
from integrations.telegram.adapter import Notice, UpdateAdapter
from integrations.telegram.delivery import TOPIC

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Received:
    """What became of an update; ``answer_callback`` is the query still to acknowledge."""

    outcome: str  # "handled" | "duplicate" | "notice" | "ignored"
    answer_callback: str | None = None


class UpdateReceiver:
    """Adapt, record through the pipeline (which deduplicates by update_id), wake the outbox."""

    def __init__(
        self,
        bot: Bot,
        adapter: UpdateAdapter,
        pipeline: Pipeline,
        sessions: async_sessionmaker[AsyncSession],
        outbox: OutboxDispatcher,
    ) -> None:
        self.bot = bot
        self.adapter = adapter
        self.pipeline = pipeline
        self.sessions = sessions
        self.outbox = outbox

    async def receive(self, update: Update) -> Received:
        """May raise ``TemporaryFailure`` (the update should come again later)."""
        adapted = await self.adapter.adapt(update)
        query = update.callback_query
        if isinstance(adapted, InboundMessage):
            handled = await self.pipeline.handle(adapted)
            if handled.duplicate:
                return Received("duplicate")
            self.outbox.wake()
            return Received("handled", query.id if query is not None else None)
        if isinstance(adapted, Notice):
            if await self._notice(update.update_id, adapted):
                self.outbox.wake()
                return Received("notice")
            return Received("duplicate")
        return Received("ignored", query.id if query is not None else None)

    async def _notice(self, update_id: int, notice: Notice) -> bool:
        """Queue a channel sentence once per update (its key makes a redelivery a no-op)."""
        key = f"notice:telegram:{update_id}"
        now = datetime.now(UTC)
        try:
            async with self.sessions() as session, session.begin():
                exists = await session.scalar(
                    select(OutboxMessage.id).where(OutboxMessage.key == key)
                )
                if exists is not None:
                    return False
                session.add(
                    OutboxMessage(
                        topic=TOPIC,
                        key=key,
                        payload={
                            "recipient_id": str(notice.chat_id),
                            "text": notice.text,
                            "buttons": [],
                            "custom": {},
                        },
                        created_at=now,
                        next_attempt_at=now,
                    )
                )
        except IntegrityError:
            return False  # a concurrent delivery of the same update queued it
        return True

    async def answer(self, callback_query_id: str) -> None:
        """Stop the button's spinner; a late or failed answer is cosmetic, so only log it."""
        try:
            await self.bot.answer_callback_query(callback_query_id)
        except TelegramError as exc:
            log.info("answerCallbackQuery failed: %s", type(exc).__name__)
