"""The turn's storage: a snapshot to decide on, and one short transaction to apply it.

Everything a turn reads or writes is a plain function of a synchronous SQLAlchemy
``Session`` (``load``, ``open_for_evidence``, ``apply``), the same code on every database.
``ConversationStore`` runs those functions; how it runs them is the only place the databases
differ:

- **PostgreSQL** runs them through the app's async engine (``AsyncSession.run_sync``);
  row locks and the revision check keep concurrent turns apart.
- **SQLite** (a file) runs each transaction whole in a worker thread on a synchronous engine,
  so SQLite's only write lock is held for the SQL alone and never while the event loop
  serves other requests; writers of this process and of others sharing the file queue at a
  FIFO gate (``bot/db/write_gate.py``) instead of in SQLite's sleeping busy handler. A
  transaction that issues a case number commits with ``synchronous=FULL``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import Engine, Table, bindparam, create_engine, event, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker

from bot.crypto import Bound, Keyring, RowBound, keyring_of, use_keyring
from bot.db.engine import (
    DURABLE,
    READ_ONLY,
    read_only,
    sqlite_begin,
    sqlite_on_loop,
    sqlite_pragmas,
)
from bot.db.models import Conversation, Evidence, InboundMessage, TranscriptEntry
from bot.db.write_gate import WriteGate, lock_path_for
from bot.messages import InboundMessage as Message
from dialogues.model import EvidenceRef

T = TypeVar("T")

_conversations = cast(Table, Conversation.__table__)
_inbound = cast(Table, InboundMessage.__table__)
_transcript = cast(Table, TranscriptEntry.__table__)
# The row-bound columns a turn writes with Core statements (``RowBound.bound``).
_STATE = cast(RowBound, _conversations.c.state.type)
_ADDRESS = cast(RowBound, _conversations.c.address.type)
_CONTENT = cast(RowBound, _inbound.c.content.type)
_REPLIES = cast(RowBound, _inbound.c.replies.type)
_TEXT = cast(RowBound, _transcript.c.text.type)
_PAYLOAD = cast(RowBound, _transcript.c.payload.type)


class Conflict(Exception):
    """The conversation moved on (another message, or a person took it) after the snapshot,
    or two first messages raced to create it: decide again on fresh state."""


@dataclass(frozen=True)
class Snapshot:
    """What a turn is decided on. ``id`` is None before the sender's first message."""

    id: int | None
    sender_id: str
    locale: str | None
    state: dict[str, Any]
    handover: str | None
    revision: int
    # The replies already given to this very message: it is a repeat.
    answer: list[dict[str, Any]] | None


# The statements of every turn, built once (their SQL is compiled once per dialect).
_LOAD = (
    select(
        _conversations.c.id,
        _conversations.c.sender_id,
        _conversations.c.locale,
        _conversations.c.state,
        _conversations.c.handover,
        _conversations.c.revision,
        _inbound.c.replies,
    )
    .select_from(
        _conversations.outerjoin(
            _inbound,
            (_inbound.c.conversation_id == _conversations.c.id)
            & (_inbound.c.channel == bindparam("channel"))
            & (_inbound.c.channel_message_id == bindparam("message_id")),
        )
    )
    .where(
        _conversations.c.channel == bindparam("channel"),
        _conversations.c.sender_id.in_(bindparam("senders", expanding=True)),
    )
)
_INSERT_INBOUND = insert(_inbound)
_INSERT_TRANSCRIPT = insert(_transcript)


def load(session: Session, message: Message) -> Snapshot:
    """The sender's conversation and any earlier answer to this message, in one statement.

    A conversation kept under the clear platform id (from before ids were hashed, until
    ``weiquan keys rotate`` converts it) goes on being used rather than a second one started.
    """
    senders = [message.sender_id]
    if message.address is not None and message.address != message.sender_id:
        senders.append(message.address)
    found = session.connection().execute(
        _LOAD,
        {"channel": message.channel, "message_id": message.channel_message_id, "senders": senders},
    )
    rows = {row.sender_id: row for row in found}
    row = rows.get(message.sender_id) or next(iter(rows.values()), None)
    if row is None:
        return Snapshot(None, message.sender_id, None, {}, None, 0, None)
    return Snapshot(
        row.id, row.sender_id, row.locale, row.state or {}, row.handover, row.revision, row.replies
    )


def upsert_into(session: Session, table: Any) -> Any:
    """``INSERT … ON CONFLICT`` for ``table`` in the session's database's own spelling."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def serialise(session: Session, *keys: str) -> None:
    """Make transactions naming the same key wait for each other until they end: a
    transaction-scoped advisory lock per key on PostgreSQL (always taken in the order given,
    so two never wait on each other in a cycle); SQLite's writers are serial already."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for key in keys:
        session.execute(select(func.pg_advisory_xact_lock(func.hashtext(key))))


def create(session: Session, message: Message, sender_id: str, locale: str, now: datetime) -> int:
    """The sender's conversation, created now; ``Conflict`` if a concurrent message did."""
    stmt = (
        upsert_into(session, _conversations)
        .values(
            channel=message.channel,
            sender_id=sender_id,
            # Both are bound to the row's id, which the database assigns: the state starts
            # empty and the address is set by the turn's update (``advance``).
            address=None,
            locale=locale,
            state=Bound({}, None),
            message_count=0,
            revision=0,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["channel", "sender_id"])
        .returning(_conversations.c.id)
    )
    created = session.execute(stmt).scalar_one_or_none()
    if created is None:
        raise Conflict("a concurrent message created the conversation")
    return int(created)


def open_for_evidence(
    session: Session, message: Message, snapshot: Snapshot, locale: str, now: datetime
) -> EvidenceRef:
    """Store the row of a file the sender sent (already on disk) before anything refers to
    it, creating the conversation if this is its first message."""
    conversation_id = snapshot.id
    if conversation_id is None:
        try:
            with session.begin_nested():
                conversation_id = create(session, message, snapshot.sender_id, locale, now)
        except Conflict:
            conversation_id = load(session, message).id
    file = message.file
    if file is None or conversation_id is None:
        raise ValueError("a message with a file, and its conversation, are needed")
    evidence_id = session.execute(
        insert(Evidence)
        .values(
            sha256=file.sha256,
            conversation_id=conversation_id,
            content_type=file.content_type,
            size=file.size,
            filename=file.filename,
            source=message.channel,
            created_at=now,
        )
        .returning(Evidence.id)
    ).scalar_one()
    return EvidenceRef(evidence_id, file.sha256, file.content_type)


def _advance(*, checked: bool) -> Any:
    given = bindparam("b_address", type_=_conversations.c.address.type)
    values: dict[str, Any] = {
        "message_count": _conversations.c.message_count + 1,
        "revision": _conversations.c.revision + 1,
        "updated_at": bindparam("b_now", type_=_conversations.c.updated_at.type),
        "address": func.coalesce(_conversations.c.address, given),
    }
    stmt = update(_conversations).where(_conversations.c.id == bindparam("b_id"))
    if checked:
        values["state"] = bindparam("b_state", type_=_conversations.c.state.type)
        stmt = stmt.where(
            _conversations.c.revision == bindparam("b_revision"),
            _conversations.c.handover.is_(None),
        )
    return stmt.values(**values)


_ADVANCE = _advance(checked=True)
_COUNT = _advance(checked=False)


def advance(
    session: Session,
    conversation_id: int,
    *,
    revision: int | None,
    state: dict[str, Any] | None,
    address: str | None,
    now: datetime,
) -> None:
    """Count the message and keep the new state, if the conversation is still at
    ``revision`` and in the bot's hands (``revision=None``: a held conversation, counted)."""
    params = {
        "b_id": conversation_id,
        "b_now": now,
        "b_address": _ADDRESS.bound(address, conversation_id),
    }
    if revision is None:
        stmt = _COUNT
    else:
        bound_state = _STATE.bound(state, conversation_id)
        stmt, params = _ADVANCE, {**params, "b_revision": revision, "b_state": bound_state}
    if session.connection().execute(stmt, params).rowcount != 1:
        raise Conflict("the conversation moved on")


def transcript_row(
    conversation_id: int,
    direction: str,
    author: str,
    text: str,
    payload: dict[str, Any],
    at: datetime,
) -> dict[str, Any]:
    """One transcript row for a Core INSERT, its text and payload bound to the conversation."""
    return {
        "conversation_id": conversation_id,
        "direction": direction,
        "author": author[:32],
        "text": _TEXT.bound(text, conversation_id),
        "payload": _PAYLOAD.bound(payload, conversation_id),
        "at": at,
    }


def record(
    session: Session,
    message: Message,
    conversation_id: int,
    content: dict[str, Any],
    replies: list[dict[str, Any]],
    now: datetime,
    authors: tuple[str, str] = ("user", "bot"),
) -> None:
    """The inbound row (unique per message of a sender: a repeat fails here) and the
    transcript, as one multi-row INSERT. ``authors``: of the message and of the replies."""
    conn = session.connection()
    conn.execute(
        _INSERT_INBOUND,
        {
            "channel": message.channel,
            "channel_message_id": message.channel_message_id,
            "conversation_id": conversation_id,
            "kind": message.kind,
            "content": _CONTENT.bound(content, conversation_id),
            "received_at": now,
            "replies": _REPLIES.bound(replies, conversation_id),
        },
    )
    said = message.text or (message.payload or "")
    transcript = [transcript_row(conversation_id, "in", authors[0], said, content, now)] + [
        transcript_row(conversation_id, "out", authors[1], reply["text"], reply, now)
        for reply in replies
    ]
    conn.execute(_INSERT_TRANSCRIPT, transcript)


# How many writes on the event loop between two write-ahead-log checkpoints (in a thread).
CHECKPOINT_EVERY = 500


class ConversationStore:
    """Runs the turn's functions on the app's database (see the module docstring)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        bind = sessions.kw["bind"]
        self.readers = read_only(sessions)
        if bind.dialect.name == "postgresql":
            # A turn's reads are single statements: no BEGIN and ROLLBACK around each.
            self.readers = async_sessionmaker(
                bind.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False
            )
        url = bind.url.render_as_string(hide_password=False)
        self.dialect: str = bind.dialect.name
        gate_file = lock_path_for(url) if self.dialect == "sqlite" else None
        self.gate = WriteGate(gate_file) if gate_file is not None else None
        self._engines: list[Engine] = []
        # SQLite file: sessions on the event loop (never waiting for a lock) and in threads.
        self._on_loop: dict[str, sessionmaker[Session]] = {}
        self._threaded: dict[str, sessionmaker[Session]] = {}
        self._writes = 0
        if gate_file is not None:
            sync_url = make_url(url).set(drivername="sqlite")
            # The app's personal-data keys: more engines of the same app, not another app.
            keyring = keyring_of(bind)
            self._on_loop = self._modes(sync_url, keyring, on_loop=True)
            self._threaded = self._modes(sync_url, keyring, on_loop=False)

    def _modes(
        self, url: Any, keyring: Keyring, *, on_loop: bool
    ) -> dict[str, sessionmaker[Session]]:
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        use_keyring(engine, keyring)
        event.listen(engine, "connect", sqlite_pragmas)
        if on_loop:
            event.listen(engine, "connect", sqlite_on_loop)
        event.listen(engine, "begin", sqlite_begin)
        self._engines.append(engine)
        return {
            mode: sessionmaker(engine.execution_options(**options), expire_on_commit=False)
            for mode, options in (
                ("read", {READ_ONLY: True}),
                ("write", {}),
                ("durable", {DURABLE: True}),
            )
        }

    async def read(self, fn: Callable[[Session], T]) -> T:
        """``fn`` on a read-only snapshot (on SQLite it never takes the write lock)."""
        if self._on_loop:
            try:
                return self._run(self._on_loop["read"], fn)
            except OperationalError:  # busy: wait in a thread
                return await asyncio.to_thread(self._run, self._threaded["read"], fn)
        async with self.readers() as session:
            return await session.run_sync(fn)

    async def write(self, fn: Callable[[Session], T], *, durable: bool = False) -> T:
        """``fn`` in one transaction, committed when it returns and rolled back if it raises.
        ``durable``: the commit must survive a power cut, not only a crash (case numbers)."""
        if not self._on_loop:
            async with self.sessions() as session, session.begin():
                return await session.run_sync(fn)
        async with self.gate.hold():  # type: ignore[union-attr]  # a file has a gate
            if durable:  # the commit waits for the disk: not on the event loop
                return await asyncio.to_thread(self._run, self._threaded["durable"], fn)
            try:
                done = self._run(self._on_loop["write"], fn)
            except OperationalError:
                # Locked by a writer outside the gate (a CLI import): wait in a thread.
                return await asyncio.to_thread(self._run, self._threaded["write"], fn)
            self._writes += 1
            if self._writes % CHECKPOINT_EVERY == 0:
                self._checkpoint()
            return done

    @staticmethod
    def _run(sessions: sessionmaker[Session], fn: Callable[[Session], T]) -> T:
        with sessions() as session, session.begin():
            return fn(session)

    def _checkpoint(self) -> None:
        """Copy the write-ahead log back into the database file, off the event loop (writes
        on the loop never do it themselves); a checkpoint that cannot finish is repeated."""

        def checkpoint() -> None:
            with self._engines[-1].connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

        task = asyncio.get_running_loop().run_in_executor(None, checkpoint)
        task.add_done_callback(lambda t: t.exception())

    async def aclose(self) -> None:
        if self.gate is not None:
            self.gate.close()
        for engine in self._engines:
            engine.dispose()
