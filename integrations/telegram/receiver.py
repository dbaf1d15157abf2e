"""One place where an update enters the system, shared by the webhook route and the poller."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from telegram import Bot, Update
from telegram.error import TelegramError

from bot.channels import ChannelStore
from bot.messages import InboundMessage
from bot.outbox import Key, OutboxDispatcher, lane_of
from bot.pipeline import Pipeline
from integrations.telegram.adapter import CHANNEL, Notice, UpdateAdapter
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
        channels: ChannelStore,
        outbox: OutboxDispatcher,
    ) -> None:
        self.bot = bot
        self.adapter = adapter
        self.pipeline = pipeline
        self.channels = channels
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
        payload = {"recipient_id": str(notice.chat_id), "text": notice.text, "buttons": []}
        # The user's stored id (a private chat's id is the user's): their lane, in order with
        # the replies.
        recipient = self.channels.senders.sender_id(CHANNEL, str(notice.chat_id))
        queued = await self.channels.queue_once(
            topic=TOPIC,
            items=[(Key(recipient, f"update.{update_id}"), {**payload, "custom": {}})],
            due=datetime.now(UTC),
            lane=lane_of(CHANNEL, recipient),
        )
        return queued == 1

    async def answer(self, callback_query_id: str) -> None:
        """Stop the button's spinner; a late or failed answer is cosmetic, so only log it."""
        try:
            await self.bot.answer_callback_query(callback_query_id)
        except TelegramError as exc:
            log.info("answerCallbackQuery failed: %s", type(exc).__name__)
