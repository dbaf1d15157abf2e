"""The app's tables: conversations, inbound messages, transcript, cases, evidence, outbox."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.crypto import RowBoundJSON, RowBoundText, bind_to_rows
from bot.db.base import Base, UTCDateTime, utcnow

# Case slots written as free text: they can name or place the person, so they are encrypted.
NARRATIVE_FIELDS = frozenset({"problem", "facts", "seen"})

# A surrogate key that is BIGINT on PostgreSQL and the rowid on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Conversation(Base):
    """One user on one channel; holds the dialogue state between messages."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("channel", "sender_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    # On WeChat and Telegram a keyed hash of the platform id (bot/senders.py), which is kept
    # encrypted in ``address`` to send to; on REST the id the client chose.
    sender_id: Mapped[str] = mapped_column(String(128))
    address: Mapped[str | None] = mapped_column(
        RowBoundText("conversations.address", row_key="id", formerly_unbound=True), default=None
    )
    locale: Mapped[str] = mapped_column(String(16), default="zh")
    state: Mapped[dict[str, Any]] = mapped_column(
        RowBoundJSON("conversations.state", row_key="id", formerly_unbound=True), default=dict
    )
    handover: Mapped[str | None] = mapped_column(String(16), default=None)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    # Bumped by every write of state or hand-over (the ORM event below, the pipeline's own
    # statements): a turn decided on a snapshot commits only if the revision is unchanged.
    revision: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


@event.listens_for(Conversation, "before_update")
def _bump_revision(_mapper: Any, _connection: Any, conversation: Conversation) -> None:
    # Staff taking or handing back a conversation changes what the bot's next turn sees.
    conversation.revision = Conversation.revision + 1


# Bound to the conversation's id: a state or address copied to another conversation, or a
# message or reply moved between conversations, fails to decrypt.
bind_to_rows(Conversation)


class InboundMessage(Base):
    """Every message received, stored before it is answered; unique per message of a sender.

    A message id is only the sender's own (REST clients choose theirs), so the key includes
    the conversation (one per channel and sender): another sender's id is never a repeat.
    """

    __tablename__ = "inbound_messages"
    __table_args__ = (
        UniqueConstraint(
            "channel",
            "conversation_id",
            "channel_message_id",
            name="uq_inbound_messages_conversation_message",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    channel_message_id: Mapped[str] = mapped_column(String(128))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    content: Mapped[dict[str, Any]] = mapped_column(
        RowBoundJSON("inbound_messages.content", row_key="conversation_id", formerly_unbound=True),
        default=dict,
    )
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    replies: Mapped[list[dict[str, Any]]] = mapped_column(
        RowBoundJSON("inbound_messages.replies", row_key="conversation_id", formerly_unbound=True),
        default=list,
    )


bind_to_rows(InboundMessage)


class TranscriptEntry(Base):
    """The conversation as both sides saw it, in order."""

    __tablename__ = "transcript"
    __table_args__ = (Index("ix_transcript_conversation_at", "conversation_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    direction: Mapped[str] = mapped_column(String(4))  # "in" | "out"
    author: Mapped[str] = mapped_column(String(32), default="bot")  # user | bot | staff:<name>
    text: Mapped[str] = mapped_column(
        RowBoundText("transcript.text", row_key="conversation_id", formerly_unbound=True),
        default="",
    )
    payload: Mapped[dict[str, Any]] = mapped_column(
        RowBoundJSON("transcript.payload", row_key="conversation_id", formerly_unbound=True),
        default=dict,
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


bind_to_rows(TranscriptEntry)


class CaseSequence(Base):
    """Per-prefix, per-day counters behind case numbers (TS20261127000042)."""

    __tablename__ = "case_sequences"

    prefix: Mapped[str] = mapped_column(String(2), primary_key=True)
    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Case(Base):
    """A submitted complaint (TS) or report (JB) with every field the rules require."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_no: Mapped[str] = mapped_column(String(16), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # complaint | report
    status: Mapped[str] = mapped_column(String(24), default="submitted")
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    channel: Mapped[str] = mapped_column(String(16))
    sender_id: Mapped[str] = mapped_column(String(128))
    locale: Mapped[str] = mapped_column(String(16), default="zh")
    # The case facts in clear (``fields`` joins them with the narrative for readers).
    plain_fields: Mapped[dict[str, Any]] = mapped_column("fields", JSON, default=dict)
    # Free text that can name or place a person (NARRATIVE_FIELDS), encrypted to this case.
    narrative: Mapped[dict[str, Any] | None] = mapped_column(
        RowBoundJSON("cases.narrative", row_key="case_no")
    )
    # Personal data kept apart from the case facts so it can be protected on its own.
    personal: Mapped[dict[str, Any]] = mapped_column(
        RowBoundJSON("cases.personal", row_key="case_no")
    )
    platform: Mapped[str | None] = mapped_column(String(32), index=True)
    merchant: Mapped[str | None] = mapped_column(String(200))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decision_due: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Reports: the normalised target (name and store link) that finds duplicates to merge.
    target_name_key: Mapped[str | None] = mapped_column(String(200), index=True)
    target_link_key: Mapped[str | None] = mapped_column(String(300), index=True)
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    # A complaint and a report filed together about one purchase point at each other.
    linked_case_no: Mapped[str | None] = mapped_column(String(16))
    # Reports: reward checklist, item -> met | not_met | staff (for staff to judge).
    reward_checklist: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The seller as a business (bot/business): registered name, code, address, region, how
    # it was identified, and its credit listings for staff. Public records, not personal data.
    respondent: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    respondent_uscc: Mapped[str | None] = mapped_column(String(18), index=True)
    # The seller's county (6-digit administrative code) and the office that handles the case;
    # None when the region could not be determined (staff set it, it is never guessed).
    region_code: Mapped[str | None] = mapped_column(String(6), index=True)
    office: Mapped[str | None] = mapped_column(String(32), index=True)

    events: Mapped[list[CaseEvent]] = relationship(
        back_populates="case", order_by="CaseEvent.id", lazy="raise"
    )
    evidence: Mapped[list[Evidence]] = relationship(
        back_populates="case", order_by="Evidence.id", lazy="raise"
    )

    @hybrid_property
    def fields(self) -> dict[str, Any]:
        """Every slot of the case: the clear facts and the decrypted narrative."""
        return {**(self.plain_fields or {}), **(self.narrative or {})}

    @fields.inplace.setter
    def _fields_setter(self, value: dict[str, Any]) -> None:
        self.plain_fields = {k: v for k, v in value.items() if k not in NARRATIVE_FIELDS}
        self.narrative = {k: v for k, v in value.items() if k in NARRATIVE_FIELDS} or None

    @fields.inplace.expression
    @classmethod
    def _fields_expression(cls) -> Any:
        # In SQL only the clear facts exist: the narrative is ciphertext there.
        return cls.plain_fields


# The case's value (its number) is bound into each ciphertext: a copy in another case fails.
bind_to_rows(Case)


class CaseEvent(Base):
    """One step on a case's timeline."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    actor: Mapped[str] = mapped_column(String(64), default="bot")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[Case] = relationship(back_populates="events")


class Evidence(Base):
    """A file a user sent, content-addressed by SHA-256 and stored before a case refers to it."""

    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str | None] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(32), default="upload")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # What was read on the photo (bot/photowork.py): text and fields may name people, so the
    # whole reading is encrypted and bound to this row.
    reading: Mapped[dict[str, Any] | None] = mapped_column(
        RowBoundJSON("evidence.reading", row_key="id"), default=None
    )
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    case: Mapped[Case | None] = relationship(back_populates="evidence")


bind_to_rows(Evidence)


class CaseClaim(Base):
    """A try to claim a case filed on another channel with the phone number given in it.

    Keyed by the typed number, so unknown numbers use up tries exactly like real ones; failures
    are counted per case across all senders and per client address (bot/status.py).
    """

    __tablename__ = "case_claims"
    __table_args__ = (
        Index("ix_case_claims_who", "case_no", "channel", "sender_id"),
        Index("ix_case_claims_case_at", "case_no", "at"),
        Index("ix_case_claims_address_at", "address_hash", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_no: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    sender_id: Mapped[str] = mapped_column(String(128))
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False)
    # A keyed hash of the client address (REST), never the address itself; None elsewhere.
    address_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    # The failure that locked the case: its owner was told, and is told once per lock window.
    locked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class HandoverRequest(Base):
    """A conversation waiting for (or held by) a staff member, with why it was queued."""

    __tablename__ = "handover_requests"
    __table_args__ = (Index("ix_handover_queue", "status", "priority", "requested_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    reason: Mapped[str] = mapped_column(String(32))  # asked | safety | not_understood
    # Encrypted and bound to the conversation it was asked in (the id is known before insert).
    detail: Mapped[str] = mapped_column(
        RowBoundText("handover_requests.detail", row_key="conversation_id")
    )
    priority: Mapped[int] = mapped_column(Integer, default=0)  # lower is served first
    status: Mapped[str] = mapped_column(
        String(16), default="queued"
    )  # queued|taken|cancelled|closed
    taken_by: Mapped[str | None] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# Bound to its conversation: a detail copied to another person's request fails to decrypt.
bind_to_rows(HandoverRequest)


class OutboxMessage(Base):
    """Work that must leave the process later: pushes to users, hand-offs, with retries."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_lane", "lane", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    topic: Mapped[str] = mapped_column(String(32))  # e.g. "reply:telegram", "backoffice"
    key: Mapped[str] = mapped_column(String(128), unique=True)
    # Rows of one lane (one recipient on one channel: ``telegram:<sender id>``) are delivered
    # one at a time in order; a row waiting for a retry holds back the ones after it.
    lane: Mapped[str | None] = mapped_column(String(160), default=None)
    payload: Mapped[dict[str, Any]] = mapped_column(
        RowBoundJSON("outbox.payload", row_key="key", formerly_unbound=True), default=dict
    )
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# Bound to its key: a payload (and so its recipient) copied to another delivery fails.
bind_to_rows(OutboxMessage)


def import_all_models() -> None:
    """Import every module that defines tables, so metadata is complete (Alembic, tests)."""
    import importlib

    modules = (
        "integrations.ccc.models",
        "integrations.credit.models",
        "integrations.wechat.models",
        "bot.staff.models",
        "bot.watchers",
        "bot.ccc_feedback",
    )
    for module in (*modules, "bot.knowledge.cases", "bot.alerts", "bot.consents"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name is None or not module.startswith(exc.name):
                raise
