"""The path of one message: understand, decide on a snapshot, apply in one transaction.

1. Understanding is a pure function of the text, done before anything is read.
2. The conversation is read as a snapshot (``bot/conversations.py``); a message already
   answered gets the same answer again.
3. The engine decides on the snapshot (``Engine.decide``): the new state, the replies, and
   the actions (file a case, queue for a person, claim a case…). It only reads.
4. One short transaction applies the decision: the inbound row (a repeat fails here), the
   actions, whose receipts fill the replies, the conversation's new state checked by its
   revision, the transcript and, for channels that do not answer inline, the outbox.
5. If the conversation moved on in between (another message of the sender, a person taking
   it) the transaction is rolled back and the message is decided again on fresh state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from bot import alerts, cases, conversations, handover, outbox, status, watchers
from bot.backoffice import Handoff
from bot.business.identity import Sellers
from bot.cases import Filer
from bot.channels import ChannelStore
from bot.conversations import Conflict, ConversationStore, Snapshot, TurnRecord
from bot.knowledge.service import KnowledgeService
from bot.messages import InboundMessage
from bot.photochecks import RegistryPhotoChecks
from bot.photowork import PhotoDesk, job_of, store_reading
from bot.rulebook import KnowledgeRuleBook
from bot.senders import SenderIds
from bot.staff.passwords import hash_report_password
from bot.status import CaseReads, ClaimPolicy, Claims
from bot.understanding import Understanding
from dialogues.actions import (
    Action,
    AttachEvidence,
    CancelHandover,
    ClaimCase,
    ConsentToAlerts,
    Decision,
    ListSubscriptions,
    ReadPhoto,
    RequestHandover,
    SubmitCase,
    Subscribe,
    Unsubscribe,
    WatchCertificate,
)
from dialogues.credit_port import CreditChecks
from dialogues.engine import Engine
from dialogues.knowledge_port import KnowledgePort
from dialogues.model import EvidenceRef, Reply, Turn
from dialogues.ports import Normalizer, Ports, RuleBook
from dialogues.reading import PhotoReading
from dialogues.state import ConversationState
from dialogues.texts import language_of

log = logging.getLogger(__name__)
# Decisions of one message before it gives up: each retry follows a commit by another
# message of the same conversation (or a person taking it), so this bounds a burst.
MAX_DECISIONS = 8
# What the transcript keeps of a message that set a report password.
WITHHELD = "[report password withheld]"


@dataclass
class Handled:
    replies: list[Reply]
    duplicate: bool
    conversation_id: int


class TurnContention(RuntimeError):
    """The conversation kept moving on while this message was decided; the sender may retry."""


class Actions:
    """Applies a decision's actions inside the turn's transaction; each returns its receipt."""

    def __init__(
        self,
        claims: Claims,
        handoff: Handoff,
        photos: PhotoDesk | None = None,
        sellers: Sellers | None = None,
        staff_hours: handover.StaffHours | None = None,
    ) -> None:
        self.claims = claims
        self.handoff = handoff
        self.photos = photos
        self.staff_hours = staff_hours or handover.StaffHours.default()
        self.sellers = sellers

    def apply(self, session: Session, filer: Filer, action: Action) -> Any:
        match action:
            case SubmitCase():
                return cases.submit(
                    session, filer, action, handoff=self.handoff, sellers=self.sellers
                )
            case RequestHandover():
                return handover.request(session, filer, action, self.staff_hours)
            case CancelHandover():
                return handover.cancel(session, filer)
            case ClaimCase():
                return self.claims.claim(session, filer, action)
            case AttachEvidence():
                return status.attach(session, filer, action)
            case ReadPhoto():
                if self.photos is None:
                    return False
                job = job_of(action, filer.channel, filer.sender_id, filer.locale)
                return self.photos.apply(session, job)
            case Subscribe() | Unsubscribe() | ListSubscriptions() | ConsentToAlerts():
                return alerts.apply(session, filer, action)
            case WatchCertificate():
                return watchers.apply(session, filer, action)
        raise TypeError(f"no applier for {action!r}")


class Pipeline:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        engine: Engine,
        understanding: Understanding,
        normalizer: Normalizer,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        *,
        senders: SenderIds,
        handoff: Handoff,
        knowledge: KnowledgePort | None = None,
        rules: RuleBook | None = None,
        claims: ClaimPolicy | None = None,
        photos: PhotoDesk | None = None,
        sellers: Sellers | None = None,
        credit: CreditChecks | None = None,
        staff_hours: handover.StaffHours | None = None,
    ) -> None:
        self.sessions = sessions
        self.store = ConversationStore(sessions)
        # What channel adapters may ask of storage (bot/channels.py).
        self.channels = ChannelStore(self.store, senders)
        self.engine = engine
        self.understanding = understanding
        self.normalizer = normalizer
        self.clock = clock
        # The CCC registry and knowledge base; advice answers say "don't know" without it.
        self.knowledge = knowledge
        self.rules: RuleBook = rules or KnowledgeRuleBook()
        # Identifies and routes the seller of each filed case (bot/business).
        self.actions = Actions(Claims(claims), handoff, photos, sellers, staff_hours)
        # Photos are read in the background and their readings answered as turns of their own.
        self.photos = photos
        self.photo_checks = (
            RegistryPhotoChecks(knowledge) if isinstance(knowledge, KnowledgeService) else None
        )
        # The credit lists of businesses; the check says "not here" without it.
        self.credit = credit

    async def aclose(self) -> None:
        await self.store.aclose()

    async def handle(self, message: InboundMessage) -> Handled:
        if self.photos is not None and self.photos.deliver is None:
            self.photos.serve(self._reading)
        now = message.received_at or self.clock()
        # Understanding is a pure function of the text: done once, before any reading.
        parse = None
        if message.kind == "text" and message.text.strip():
            parse = await self.understanding.parse(message.text, now)
        evidence: EvidenceRef | None = None
        for _ in range(MAX_DECISIONS):
            snapshot = await self.store.snapshot(message)
            if snapshot.answer is not None and snapshot.id is not None:
                replies = [Reply.from_dict(r) for r in snapshot.answer]
                return Handled(replies, True, snapshot.id)
            lang = self._lang(message, snapshot)
            if message.file is not None and evidence is None:
                # The file is on disk; its row is stored before any decision refers to it.
                evidence = await self.store.write(
                    partial(
                        conversations.open_for_evidence,
                        message=message,
                        snapshot=snapshot,
                        locale=lang,
                        now=now,
                    )
                )
                continue
            decision = None
            if snapshot.handover is None:
                turn = self._turn(message, lang, parse, now, evidence)
                reads = self._reads(message, snapshot, now)
                decision = await self.engine.decide(snapshot.state, turn, reads)
            durable = decision is not None and any(
                isinstance(a, SubmitCase) for a in decision.actions
            )
            try:
                if decision is not None and not decision.actions and snapshot.id is not None:
                    # Nothing to apply but the turn itself: the repository writes it in
                    # one statement where the database allows (PostgreSQL).
                    state, replies = decision.settle([])
                    record = self._record(message, snapshot.id, snapshot, state, replies, now)
                    await self.store.commit(record)
                    return Handled(replies, False, snapshot.id)
                return await self.store.write(
                    partial(
                        self._apply,
                        message=message,
                        snapshot=snapshot,
                        decision=decision,
                        lang=lang,
                        now=now,
                    ),
                    durable=durable,
                )
            except Conflict:
                log.info("conversation moved on; deciding %s again", message.channel_message_id)
            except IntegrityError:
                # A concurrent delivery of the same message won: its answer is read next time.
                log.info("concurrent delivery of %s", message.channel_message_id)
        raise TurnContention(f"{message.channel}:{message.channel_message_id}")

    def _reads(self, message: InboundMessage, snapshot: Snapshot, now: datetime) -> Ports:
        who = Filer(snapshot.id or 0, message.channel, snapshot.sender_id, "", now)
        return Ports(
            normalizer=self.normalizer,
            lookup=CaseReads(self.store.read, who),
            knowledge=self.knowledge,
            rules=self.rules,
            hash_secret=hash_report_password,
            photos=self.photo_checks if self.photos is not None else None,
            credit=self.credit,
        )

    async def _reading(self, job: Any, reading: PhotoReading) -> Handled:
        """A photo's reading: kept on its evidence row, then answered as a turn of its own,
        through the outbox or (web chat) the transcript the page polls."""
        now = self.clock()
        await self.store.write(partial(store_reading, reading=reading, now=now))
        message = InboundMessage(
            channel=job.channel,
            channel_message_id=f"read:{job.evidence_id}",
            sender_id=job.sender_id,
            kind="reading",
            received_at=now,
            reading=reading,
            inline=False,
        )
        return await self.handle(message)

    def _apply(
        self,
        session: Session,
        *,
        message: InboundMessage,
        snapshot: Snapshot,
        decision: Decision | None,
        lang: str,
        now: datetime,
    ) -> Handled:
        """The turn's transaction (the same statements on every database)."""
        conversation_id = snapshot.id
        if conversation_id is None:
            conversation_id = conversations.create(session, message, snapshot.sender_id, lang, now)
        content = self._content(message)
        if decision is None:
            # A person holds this conversation: the bot stays quiet; the message is kept.
            conversations.record(session, message, conversation_id, content, [], now)
            conversations.advance(
                session,
                conversation_id,
                revision=None,
                state=None,
                address=message.address,
                now=now,
            )
            return Handled([], False, conversation_id)
        filer = Filer(
            conversation_id,
            message.channel,
            snapshot.sender_id,
            lang,
            now,
            message.client_address,
        )
        receipts = [self.actions.apply(session, filer, a) for a in decision.actions]
        state, replies = decision.settle(receipts)
        record = self._record(message, conversation_id, snapshot, state, replies, now)
        conversations.write_turn(session, record)
        return Handled(replies, False, conversation_id)

    @staticmethod
    def _record(
        message: InboundMessage,
        conversation_id: int,
        snapshot: Snapshot,
        state: ConversationState,
        replies: list[Reply],
        now: datetime,
    ) -> TurnRecord:
        """What the turn writes once decided and its actions applied."""
        if state.secret_turn:
            # A report password: only its hash is kept, so its text stays out of the record.
            message = replace(message, text=WITHHELD, payload=None)
        stored = [r.as_dict() for r in replies]
        deliveries: tuple[outbox.Queued, ...] = ()
        if not message.inline and message.channel != "rest":
            source = f"msg.{message.channel_message_id}"
            deliveries = tuple(
                outbox.Queued(
                    topic=f"reply:{message.channel}",
                    key=outbox.Key(snapshot.sender_id, source, index),
                    # The stored sender id: the deliverer opens the conversation's address.
                    payload={"recipient_id": snapshot.sender_id, **reply},
                    due=now,
                    lane=outbox.lane_of(message.channel, snapshot.sender_id),
                )
                for index, reply in enumerate(stored)
            )
        return TurnRecord(
            message=message,
            conversation_id=conversation_id,
            content=Pipeline._content(message),
            replies=stored,
            revision=snapshot.revision,
            state=state.dump(),
            now=now,
            deliveries=deliveries,
            # A reading's answer is told apart on the transcript: the web page fetches it there.
            authors=("reader", "bot:photo") if message.kind == "reading" else ("user", "bot"),
        )

    @staticmethod
    def _lang(message: InboundMessage, snapshot: Snapshot) -> str:
        chosen = snapshot.state.get("lang") or snapshot.locale
        return str(chosen or language_of(message.locale))

    @staticmethod
    def _content(message: InboundMessage) -> dict[str, Any]:
        content: dict[str, Any] = {"text": message.text}
        if message.payload:
            content["payload"] = message.payload
        if message.reading is not None:
            content["reading"] = message.reading.evidence_id
        if message.file is not None:
            content["file"] = {
                "sha256": message.file.sha256,
                "content_type": message.file.content_type,
            }
        return content

    @staticmethod
    def _turn(
        message: InboundMessage,
        lang: str,
        parse: Any,
        now: datetime,
        evidence: EvidenceRef | None,
    ) -> Turn:
        return Turn(
            kind="button" if message.payload else message.kind,
            text=message.text,
            now=now,
            lang=lang,
            parse=parse,
            evidence=evidence,
            payload=message.payload,
            reading=message.reading,
        )
