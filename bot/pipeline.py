"""The path of one message (DESIGN.md steps 2–7): record, serialise, understand, decide, store."""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.cases import SessionCaseService
from bot.db.engine import make_sessionmaker
from bot.db.inline import inline_engine
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
from bot.status import ClaimPolicy, SessionCaseLookup
from bot.turns import ConversationRow, NewConversation, SqliteTurnStore, TurnRows
from bot.understanding import Understanding
from dialogues.engine import Engine
from dialogues.knowledge_port import KnowledgePort
from dialogues.model import EvidenceRef, Reply, Turn
from dialogues.ports import Normalizer, Ports, RuleBook
from dialogues.texts import language_of

log = logging.getLogger(__name__)


@dataclass
class Handled:
    replies: list[Reply]
    duplicate: bool
    conversation_id: int


def _short(message_id: str) -> str:
    """A message id short enough for an outbox key (128 characters with the rest)."""
    if len(message_id) <= 64:
        return message_id
    return hashlib.sha256(message_id.encode()).hexdigest()[:40]


class TransactionNeeded(Exception):
    """A turn decided outside the transaction reached a port that reads or writes cases."""


class _InTransactionOnly:
    """Stands in for the case, lookup and hand-over ports while a turn is decided on a
    snapshot: any call sends the message down the transactional path instead."""

    def __getattr__(self, name: str) -> Callable[..., Any]:
        async def deferred(*_args: Any, **_kwargs: Any) -> Any:
            raise TransactionNeeded(name)

        return deferred


_DEFERRED: Any = _InTransactionOnly()


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
        claims: ClaimPolicy | None = None,
    ) -> None:
        self.sessions = sessions
        self.engine = engine
        self.understanding = understanding
        self.normalizer = normalizer
        self.clock = clock
        # The CCC registry and knowledge base; advice answers say "don't know" without it.
        self.knowledge = knowledge
        self.rules: RuleBook = rules or KnowledgeRuleBook()
        self.claims = claims or ClaimPolicy()
        # SQLite has one writer at a time: queue writers at the gate, not in the busy handler,
        # and write ordinary turns without thread hops (bot/turns.py).
        bind = sessions.kw.get("bind")
        self.write_gate: WriteGate | None = None
        self.turns: SqliteTurnStore | None = None
        # SQLite file: transactions whose statements run on the loop (bot/db/inline.py).
        self._inline_engine: AsyncEngine | None = None
        self.inline_sessions: async_sessionmaker[AsyncSession] | None = None
        if bind is not None and bind.dialect.name == "sqlite":
            url = bind.url.render_as_string(hide_password=False)
            gate_file = lock_path_for(url)
            self.write_gate = WriteGate(gate_file)
            if gate_file is not None:  # a file, not :memory:
                self.turns = SqliteTurnStore(url)
                self._inline_engine = inline_engine(url)
                self.inline_sessions = make_sessionmaker(self._inline_engine)

    async def aclose(self) -> None:
        if self.write_gate is not None:
            self.write_gate.close()
        if self.turns is not None:
            self.turns.close()
        if self._inline_engine is not None:
            await self._inline_engine.dispose()

    async def handle(self, message: InboundMessage) -> Handled:
        now = message.received_at or self.clock()
        # Understanding is a pure function of the text: do it before taking the lock.
        parse = None
        if message.kind == "text" and message.text.strip():
            parse = await self.understanding.parse(message.text, now)
        message = await self._stored_sender(message)
        if self.turns is not None and self.write_gate is not None and message.file is None:
            handled = await self._on_snapshot(self.turns, self.write_gate, message, parse, now)
            if handled is not None:
                return handled
        for attempt in range(3):
            try:
                if self.inline_sessions is None:
                    return await self._transaction(self.sessions, message, parse, now)
                try:
                    return await self._transaction(self.inline_sessions, message, parse, now)
                except OperationalError:
                    # Locked by a writer outside the pipeline: wait for it off the event loop.
                    log.info("database busy; %s waits in a thread", message.channel_message_id)
                    return await self._transaction(self.sessions, message, parse, now)
            except IntegrityError:
                # A concurrent delivery of the same message won the race: read its answer.
                if attempt == 2:
                    raise
                log.info("retrying after a concurrent insert for %s", message.channel_message_id)
        raise AssertionError("unreachable")

    async def _stored_sender(self, message: InboundMessage) -> InboundMessage:
        """The message under the sender id its conversation is stored by: a conversation kept
        under the clear platform id (from before hashing, until ``weiquan keys rotate``
        converts it) goes on being used rather than a second one being started."""
        if message.address is None or message.address == message.sender_id:
            return message
        stmt = select(Conversation.sender_id).where(
            Conversation.channel == message.channel,
            Conversation.sender_id.in_([message.sender_id, message.address]),
        )
        found = self.turns.scalars(stmt) if self.turns is not None else None
        if found is None:
            async with self.sessions() as session:
                found = list((await session.execute(stmt)).scalars())
        if message.sender_id not in found and message.address in found:
            return replace(message, sender_id=message.address)
        return message

    async def _transaction(
        self,
        sessions: async_sessionmaker[AsyncSession],
        message: InboundMessage,
        parse: Any,
        now: datetime,
    ) -> Handled:
        async with contextlib.AsyncExitStack() as stack:
            if self.write_gate is not None:
                await stack.enter_async_context(self.write_gate.hold())
            session = await stack.enter_async_context(sessions())
            await stack.enter_async_context(session.begin())
            return await self._in_transaction(session, message, parse, now)

    async def _on_snapshot(
        self,
        turns: SqliteTurnStore,
        gate: WriteGate,
        message: InboundMessage,
        parse: Any,
        now: datetime,
    ) -> Handled | None:
        """Decide on a snapshot, then commit if nothing moved; None means "use a transaction".

        A conversation in a person's hands, a turn that reaches cases or the hand-over desk,
        and any conflict (including two first messages racing to create the conversation)
        return None, and the caller runs the message through ``_in_transaction`` afresh.
        """
        await gate.idle()
        snapshot = turns.snapshot(message.channel, message.sender_id, message.channel_message_id)
        if snapshot is None:
            return None
        known = snapshot.conversation
        if known is not None and snapshot.answer is not None:
            return Handled([Reply.from_dict(r) for r in snapshot.answer], True, known.id)
        if known is not None and known.handover:
            return None
        subject: ConversationRow | NewConversation
        if known is None:
            subject = NewConversation(
                message.channel, message.sender_id, language_of(message.locale), message.address
            )
            conversation = subject.row()
        else:
            subject = conversation = known
        turn = self._turn(message, conversation, parse, now, None)
        ports = Ports(
            cases=_DEFERRED,
            normalizer=self.normalizer,
            lookup=_DEFERRED,
            handover=_DEFERRED,
            knowledge=self.knowledge,
            rules=self.rules,
        )
        try:
            outcome = await self.engine.handle(dict(conversation.state), turn, ports)
        except TransactionNeeded:
            return None
        content = self._content(message)

        def rows_for(conversation_id: int) -> TurnRows:
            return self._rows(message, conversation_id, now, content, outcome.replies)

        async with gate.hold():
            conversation_id = turns.commit(subject, outcome.state, now, rows_for)
        if conversation_id is None:
            return None
        return Handled(outcome.replies, False, conversation_id)

    async def _conversation(
        self, session: AsyncSession, message: InboundMessage, now: datetime
    ) -> ConversationRow:
        """Create or fetch the conversation in one statement; on PostgreSQL it also locks the row."""
        dialect = session.bind.dialect.name if session.bind else "sqlite"
        upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        table = cast(Table, Conversation.__table__)
        insert_stmt = upsert(table)
        upsert_address = insert_stmt.excluded.address
        stmt = (
            insert_stmt.values(
                channel=message.channel,
                sender_id=message.sender_id,
                address=message.address,
                locale=language_of(message.locale),
                state={},
                message_count=0,
                revision=0,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_update(
                index_elements=["channel", "sender_id"],
                set_={"updated_at": now, "address": func.coalesce(table.c.address, upsert_address)},
            )
            .returning(
                table.c.id, table.c.locale, table.c.state, table.c.handover, table.c.revision
            )
        )
        row = (await session.execute(stmt)).one()
        return ConversationRow(row.id, row.locale, row.state, row.handover, row.revision)

    @staticmethod
    def _content(message: InboundMessage) -> dict[str, Any]:
        content: dict[str, Any] = {"text": message.text}
        if message.payload:
            content["payload"] = message.payload
        if message.file is not None:
            content["file"] = {
                "sha256": message.file.sha256,
                "content_type": message.file.content_type,
            }
        return content

    @staticmethod
    def _turn(
        message: InboundMessage,
        conversation: ConversationRow,
        parse: Any,
        now: datetime,
        evidence: EvidenceRef | None,
    ) -> Turn:
        lang = conversation.state.get("lang") or conversation.locale or language_of(message.locale)
        return Turn(
            kind="button" if message.payload else message.kind,
            text=message.text,
            now=now,
            lang=lang,
            parse=parse,
            evidence=evidence,
            payload=message.payload,
        )

    @staticmethod
    def _rows(
        message: InboundMessage,
        conversation_id: int,
        now: datetime,
        content: dict[str, Any],
        replies: list[Reply],
    ) -> TurnRows:
        """The inbound row, the transcript (as one multi-row INSERT: nothing reads it back)
        and, for channels that do not answer inline, the outbox rows of one message."""
        stored = [r.as_dict() for r in replies]
        mid = _short(message.channel_message_id)
        transcript: list[dict[str, Any]] = [
            {
                "conversation_id": conversation_id,
                "direction": "in",
                "author": "user",
                "text": message.text or (message.payload or ""),
                "payload": content,
                "at": now,
            }
        ]
        transcript += [
            {
                "conversation_id": conversation_id,
                "direction": "out",
                "author": "bot",
                "text": reply["text"],
                "payload": reply,
                "at": now,
            }
            for reply in stored
        ]
        outbox = (
            [
                {
                    "topic": f"reply:{message.channel}",
                    "key": f"reply:{message.channel}:{conversation_id}:{mid}:{index}",
                    # The stored sender id: the deliverer opens the conversation's address.
                    "payload": {"recipient_id": message.sender_id, **reply},
                    "status": "pending",
                    "attempts": 0,
                    "created_at": now,
                    "next_attempt_at": now,
                }
                for index, reply in enumerate(stored)
            ]
            if not message.inline
            else []
        )
        inbound = {
            "channel": message.channel,
            "channel_message_id": message.channel_message_id,
            "conversation_id": conversation_id,
            "kind": message.kind,
            "content": content,
            "received_at": now,
            "replies": stored,
        }
        return TurnRows(inbound, transcript, outbox)

    async def _in_transaction(
        self, session: AsyncSession, message: InboundMessage, parse: Any, now: datetime
    ) -> Handled:
        # Core statements on the hot path: the ORM unit of work costs more than the SQL here.
        conversation = await self._conversation(session, message, now)
        seen = (
            await session.execute(
                select(InboundRow.replies).where(
                    InboundRow.channel == message.channel,
                    InboundRow.conversation_id == conversation.id,
                    InboundRow.channel_message_id == message.channel_message_id,
                )
            )
        ).first()
        if seen is not None:
            return Handled([Reply.from_dict(r) for r in seen.replies], True, conversation.id)

        content = self._content(message)
        evidence_ref: EvidenceRef | None = None
        if message.file is not None:
            # Evidence is stored (file on disk, row here) before anything refers to it.
            evidence_id = (
                await session.execute(
                    insert(Evidence)
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
        touch = (
            update(Conversation)
            .where(Conversation.id == conversation.id)
            .values(
                message_count=Conversation.message_count + 1,
                revision=Conversation.revision + 1,
                updated_at=now,
            )
        )

        if conversation.handover:
            # A person holds this conversation: the bot stays quiet.
            rows = self._rows(message, conversation.id, now, content, [])
            await session.execute(insert(InboundRow), rows.inbound)
            await session.execute(insert(TranscriptEntry), rows.transcript)
            await session.execute(touch)
            return Handled([], False, conversation.id)

        turn = self._turn(message, conversation, parse, now, evidence_ref)
        ports = Ports(
            cases=SessionCaseService(
                session,
                conversation_id=conversation.id,
                channel=message.channel,
                sender_id=message.sender_id,
                locale=turn.lang,
                now=now,
            ),
            normalizer=self.normalizer,
            lookup=SessionCaseLookup(
                session,
                conversation_id=conversation.id,
                channel=message.channel,
                sender_id=message.sender_id,
                now=now,
                client_address=message.client_address,
                policy=self.claims,
            ),
            handover=SessionHandoverDesk(session, conversation_id=conversation.id, now=now),
            knowledge=self.knowledge,
            rules=self.rules,
        )
        outcome = await self.engine.handle(conversation.state, turn, ports)
        rows = self._rows(message, conversation.id, now, content, outcome.replies)
        await session.execute(insert(InboundRow), rows.inbound)
        await session.execute(touch.values(state=outcome.state))
        await session.execute(insert(TranscriptEntry), rows.transcript)
        if rows.outbox:
            await session.execute(insert(OutboxMessage), rows.outbox)
        return Handled(outcome.replies, False, conversation.id)
