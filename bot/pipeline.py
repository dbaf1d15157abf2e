"""The path of one message (DESIGN.md steps 2–7): record, serialise, understand, decide, store."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy import insert as insert_rows
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cases import SessionCaseService
from bot.db.models import (
    Conversation,
    Evidence,
    OutboxMessage,
    TranscriptEntry,
)
from bot.db.models import (
    InboundMessage as InboundRow,
)
from bot.db.write_gate import WriteGate, lock_path_for
from bot.handover import SessionHandoverDesk
from bot.messages import InboundMessage
from bot.rulebook import KnowledgeRuleBook
from bot.status import SessionCaseLookup
from bot.understanding import Understanding
from dialogues.engine import Engine
from dialogues.knowledge_port import KnowledgePort
from dialogues.model import EvidenceRef, Reply, Turn
from dialogues.ports import Normalizer, Ports, RuleBook
from dialogues.texts import language_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConversationRow:
    """What the pipeline needs of a conversation; written back with targeted UPDATEs."""

    id: int
    locale: str
    state: dict[str, Any]
    handover: str | None


@dataclass
class Handled:
    replies: list[Reply]
    duplicate: bool
    conversation_id: int


class Pipeline:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        engine: Engine,
        understanding: Understanding,
        normalizer: Normalizer,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        *,
        knowledge: KnowledgePort | None = None,
        rules: RuleBook | None = None,
    ) -> None:
        self.sessions = sessions
        self.engine = engine
        self.understanding = understanding
        self.normalizer = normalizer
        self.clock = clock
        # The CCC registry and knowledge base; advice answers say "don't know" without it.
        self.knowledge = knowledge
        self.rules: RuleBook = rules or KnowledgeRuleBook()
        # SQLite has one writer at a time: queue writers at the gate, not in the busy handler.
        bind = sessions.kw.get("bind")
        self.write_gate: WriteGate | None = (
            WriteGate(lock_path_for(str(bind.url)))
            if bind is not None and bind.dialect.name == "sqlite"
            else None
        )

    def close(self) -> None:
        if self.write_gate is not None:
            self.write_gate.close()

    async def handle(self, message: InboundMessage) -> Handled:
        now = message.received_at or self.clock()
        # Understanding is a pure function of the text: do it before taking the lock.
        parse = None
        if message.kind == "text" and message.text.strip():
            parse = await self.understanding.parse(message.text, now)
        for attempt in range(3):
            try:
                async with contextlib.AsyncExitStack() as stack:
                    if self.write_gate is not None:
                        await stack.enter_async_context(self.write_gate.hold())
                    session = await stack.enter_async_context(self.sessions())
                    await stack.enter_async_context(session.begin())
                    return await self._in_transaction(session, message, parse, now)
            except IntegrityError:
                # A concurrent delivery of the same message won the race: read its answer.
                if attempt == 2:
                    raise
                log.info("retrying after a concurrent insert for %s", message.channel_message_id)
        raise AssertionError("unreachable")

    async def _conversation(
        self, session: AsyncSession, message: InboundMessage, now: datetime
    ) -> ConversationRow:
        """Create or fetch the conversation in one statement; on PostgreSQL it also locks the row."""
        dialect = session.bind.dialect.name if session.bind else "sqlite"
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        table = cast(Table, Conversation.__table__)
        stmt = (
            insert(table)
            .values(
                channel=message.channel,
                sender_id=message.sender_id,
                locale=language_of(message.locale),
                state={},
                message_count=0,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_update(
                index_elements=["channel", "sender_id"], set_={"updated_at": now}
            )
            .returning(table.c.id, table.c.locale, table.c.state, table.c.handover)
        )
        row = (await session.execute(stmt)).one()
        return ConversationRow(id=row.id, locale=row.locale, state=row.state, handover=row.handover)

    async def _in_transaction(
        self, session: AsyncSession, message: InboundMessage, parse: Any, now: datetime
    ) -> Handled:
        # Core statements on the hot path: the ORM unit of work costs more than the SQL here.
        conversation = await self._conversation(session, message, now)
        seen = (
            await session.execute(
                select(InboundRow.replies).where(
                    InboundRow.channel == message.channel,
                    InboundRow.channel_message_id == message.channel_message_id,
                )
            )
        ).first()
        if seen is not None:
            return Handled([Reply.from_dict(r) for r in seen.replies], True, conversation.id)

        content: dict[str, Any] = {"text": message.text}
        if message.payload:
            content["payload"] = message.payload
        evidence_ref: EvidenceRef | None = None
        if message.file is not None:
            content["file"] = {
                "sha256": message.file.sha256,
                "content_type": message.file.content_type,
            }
            # Evidence is stored (file on disk, row here) before anything refers to it.
            evidence_id = (
                await session.execute(
                    insert_rows(Evidence)
                    .values(
                        sha256=message.file.sha256,
                        conversation_id=conversation.id,
                        content_type=message.file.content_type,
                        size=message.file.size,
                        filename=message.file.filename,
                        source=message.channel,
                        created_at=now,
                    )
                    .returning(Evidence.id)
                )
            ).scalar_one()
            evidence_ref = EvidenceRef(evidence_id, message.file.sha256, message.file.content_type)
        inbound: dict[str, Any] = {
            "channel": message.channel,
            "channel_message_id": message.channel_message_id,
            "conversation_id": conversation.id,
            "kind": message.kind,
            "content": content,
            "received_at": now,
            "replies": [],
        }
        # Transcript rows go in as one multi-row INSERT at the end: nothing reads them back.
        transcript: list[dict[str, Any]] = [
            {
                "conversation_id": conversation.id,
                "direction": "in",
                "author": "user",
                "text": message.text or (message.payload or ""),
                "payload": content,
                "at": now,
            }
        ]
        touch = (
            update(Conversation)
            .where(Conversation.id == conversation.id)
            .values(message_count=Conversation.message_count + 1, updated_at=now)
        )

        if conversation.handover:
            # A person holds this conversation: the bot stays quiet.
            await session.execute(insert_rows(InboundRow).values(**inbound))
            await session.execute(insert_rows(TranscriptEntry), transcript)
            await session.execute(touch)
            return Handled([], False, conversation.id)

        lang = conversation.state.get("lang") or conversation.locale or language_of(message.locale)
        turn = Turn(
            kind="button" if message.payload else message.kind,
            text=message.text,
            now=now,
            lang=lang,
            parse=parse,
            evidence=evidence_ref,
            payload=message.payload,
        )
        cases = SessionCaseService(
            session,
            conversation_id=conversation.id,
            channel=message.channel,
            sender_id=message.sender_id,
            locale=lang,
            now=now,
        )
        ports = Ports(
            cases=cases,
            normalizer=self.normalizer,
            lookup=SessionCaseLookup(
                session,
                conversation_id=conversation.id,
                channel=message.channel,
                sender_id=message.sender_id,
                now=now,
            ),
            handover=SessionHandoverDesk(session, conversation_id=conversation.id, now=now),
            knowledge=self.knowledge,
            rules=self.rules,
        )
        outcome = await self.engine.handle(conversation.state, turn, ports)
        stored = [r.as_dict() for r in outcome.replies]
        inbound["replies"] = stored
        await session.execute(insert_rows(InboundRow).values(**inbound))
        await session.execute(touch.values(state=outcome.state))
        transcript += [
            {
                "conversation_id": conversation.id,
                "direction": "out",
                "author": "bot",
                "text": reply["text"],
                "payload": reply,
                "at": now,
            }
            for reply in stored
        ]
        await session.execute(insert_rows(TranscriptEntry), transcript)
        if not message.inline and stored:
            await session.execute(
                insert_rows(OutboxMessage),
                [
                    {
                        "topic": f"reply:{message.channel}",
                        "key": f"reply:{message.channel}:{message.channel_message_id}:{index}",
                        "payload": {"recipient_id": message.sender_id, **reply},
                        "status": "pending",
                        "attempts": 0,
                        "created_at": now,
                        "next_attempt_at": now,
                    }
                    for index, reply in enumerate(stored)
                ],
            )
        return Handled(outcome.replies, False, conversation.id)
