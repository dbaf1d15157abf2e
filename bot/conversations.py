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
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar, cast

from sqlalchemy import Engine, Table, bindparam, create_engine, event, func, insert, select, update
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker

from bot import outbox
from bot.crypto import Bound, Keyring, RowBound, keyring_of, use_keyring
from bot.db.dialect import upsert_into
from bot.db.engine import (
    DURABLE,
    READ_ONLY,
    read_only,
    sqlite_begin,
    sqlite_on_loop,
    sqlite_pragmas,
)
from bot.db.models import Conversation, Evidence, InboundMessage, OutboxMessage, TranscriptEntry
from bot.db.write_gate import WriteGate, lock_path_for
from bot.messages import InboundMessage as Message
from dialogues.model import EvidenceRef

T = TypeVar("T")
log = logging.getLogger(__name__)

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
_QUEUED = cast(RowBound, cast(Table, OutboxMessage.__table__).c.payload.type)


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
    found = session.connection().execute(
        _LOAD,
        {
            "channel": message.channel,
            "message_id": message.channel_message_id,
            "senders": _senders(message),
        },
    )
    row = _own(message, list(found))
    if row is None:
        return Snapshot(None, message.sender_id, None, {}, None, 0, None)
    return Snapshot(
        row.id, row.sender_id, row.locale, row.state or {}, row.handover, row.revision, row.replies
    )


def _senders(message: Message) -> list[str]:
    """The ids the sender's conversation may be kept under: the stored one, and the clear
    platform id of a conversation from before ids were hashed."""
    if message.address is not None and message.address != message.sender_id:
        return [message.sender_id, message.address]
    return [message.sender_id]


def _own(message: Message, rows: list[Any]) -> Any:
    """Of the rows found under ``_senders``, the one under the stored id if there is one."""
    return next((r for r in rows if r[1] == message.sender_id), rows[0] if rows else None)


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


@dataclass(frozen=True)
class TurnRecord:
    """What every decided turn writes once its actions (if any) are applied: the inbound
    row, the transcript, the conversation's new state checked by ``revision``, and the
    replies to deliver later (channels that do not answer inline)."""

    message: Message
    conversation_id: int
    content: dict[str, Any]
    replies: list[dict[str, Any]]
    revision: int
    state: dict[str, Any]
    now: datetime
    deliveries: tuple[outbox.Queued, ...] = ()
    # Who said the message and who the replies (transcript authors).
    authors: tuple[str, str] = ("user", "bot")


def write_turn(session: Session, turn: TurnRecord) -> None:
    """``turn`` in the caller's transaction; ``Conflict`` if the conversation moved on."""
    record(
        session,
        turn.message,
        turn.conversation_id,
        turn.content,
        turn.replies,
        turn.now,
        turn.authors,
    )
    advance(
        session,
        turn.conversation_id,
        revision=turn.revision,
        state=turn.state,
        address=turn.message.address,
        now=turn.now,
    )
    outbox.enqueue_all(session, turn.deliveries)


# Arrays are sent as text[] and cast in the statement: asyncpg knows text[] without asking,
# while every other array type (varchar[], timestamptz[]) costs each new connection a catalogue
# query (150-400 ms under load, measured) before its first turn.
def _iso(moment: datetime) -> str:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


# ``write_turn`` as one PostgreSQL statement: one round trip in its own implicit transaction
# instead of BEGIN, four statements and COMMIT. Every insert reads the id the checked update
# returned, so when the conversation moved on nothing is written and the count is 0; a repeat
# of the message fails on the inbound row's unique key and the whole statement with it.
_TURN_SQL = """\
WITH moved AS (
    UPDATE conversations
       SET message_count = message_count + 1, revision = revision + 1, updated_at = $3,
           address = coalesce(address, $4), state = $5::json
     WHERE id = $1 AND revision = $2 AND handover IS NULL
 RETURNING id
), inbound AS (
    INSERT INTO inbound_messages
           (channel, channel_message_id, conversation_id, kind, content, received_at, replies)
    SELECT $6, $7, moved.id, $8, $9::json, $3, $10::json FROM moved
), said AS (
    INSERT INTO transcript (conversation_id, direction, author, text, payload, at)
    SELECT moved.id, t.direction, t.author, t.text, t.payload::json, $3
      FROM moved, unnest($11::text[], $12::text[], $13::text[], $14::text[])
           WITH ORDINALITY AS t(direction, author, text, payload, n)
     ORDER BY t.n
), queued AS (
    INSERT INTO outbox (topic, key, payload, status, attempts, created_at, next_attempt_at, lane)
    SELECT q.topic, q.key, q.payload::json, 'pending', 0, q.due::timestamptz,
           q.due::timestamptz, q.lane
      FROM moved, unnest($15::text[], $16::text[], $17::text[], $18::text[], $19::text[])
           WITH ORDINALITY AS q(topic, key, payload, due, lane, n)
     ORDER BY q.n
)
SELECT count(*) FROM moved"""


def _sealed(kind: RowBound, value: Any, row_key: object, dialect: Dialect) -> Any:
    """A row-bound value as its column stores it, for a statement written by hand: encrypted
    under its row's key, and JSON-encoded for JSON columns (what the column type does)."""
    stored = kind.process_bind_param(kind.bound(value, row_key), dialect)
    if stored is None or not kind.as_json:
        return stored
    return json.dumps(stored, ensure_ascii=False)


def _turn_parameters(turn: TurnRecord, dialect: Dialect) -> tuple[Any, ...]:
    cid, message, now = turn.conversation_id, turn.message, turn.now
    said = message.text or (message.payload or "")
    author, replier = turn.authors
    transcript = [("in", author, said, turn.content)] + [
        ("out", replier, reply["text"], reply) for reply in turn.replies
    ]
    keys = [queued.spelled for queued in turn.deliveries]
    return (
        cid,
        turn.revision,
        now,
        _sealed(_ADDRESS, message.address, cid, dialect),
        _sealed(_STATE, turn.state, cid, dialect),
        message.channel,
        message.channel_message_id,
        message.kind,
        _sealed(_CONTENT, turn.content, cid, dialect),
        _sealed(_REPLIES, turn.replies, cid, dialect),
        [direction for direction, *_ in transcript],
        [author[:32] for _, author, *_ in transcript],
        [_sealed(_TEXT, text, cid, dialect) for _, _, text, _ in transcript],
        [_sealed(_PAYLOAD, payload, cid, dialect) for *_, payload in transcript],
        [queued.topic for queued in turn.deliveries],
        keys,
        [
            _sealed(_QUEUED, queued.payload, key, dialect)
            for queued, key in zip(turn.deliveries, keys, strict=True)
        ],
        [_iso(queued.due) for queued in turn.deliveries],
        [queued.lane for queued in turn.deliveries],
    )


# ``load`` as PostgreSQL reads it through the driver: the row-bound values come back as
# stored and are opened here with their row's key (what ``RowBound.column_expression`` does).
_SNAPSHOT_SQL = """\
SELECT c.id, c.sender_id, c.locale, c.state, c.handover, c.revision, i.replies
  FROM conversations AS c
  LEFT JOIN inbound_messages AS i
    ON i.conversation_id = c.id AND i.channel = $1 AND i.channel_message_id = $2
 WHERE c.channel = $1 AND c.sender_id = ANY($3::text[])"""


def _opened(kind: RowBound, stored: Any, row_key: object, dialect: Dialect) -> Any:
    """A row-bound JSON value as the driver decoded it (SQLAlchemy's codec on every
    connection), opened with its row's key."""
    return kind.process_result_value([row_key, stored], dialect)


def _snapshot(message: Message, rows: list[Any], dialect: Dialect) -> Snapshot:
    row = _own(message, rows)
    if row is None:
        return Snapshot(None, message.sender_id, None, {}, None, 0, None)
    cid, sender_id, locale, state, handover, revision, replies = row
    return Snapshot(
        cid,
        sender_id,
        locale,
        _opened(_STATE, state, cid, dialect) or {},
        handover,
        revision,
        _opened(_REPLIES, replies, cid, dialect),
    )


# How many writes on the event loop between two write-ahead-log checkpoints (in a thread).
CHECKPOINT_EVERY = 500


class ConversationStore:
    """Runs the turn's functions on the app's database (see the module docstring)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        bind = sessions.kw["bind"]
        self.readers = read_only(sessions)
        # PostgreSQL: statements that are whole transactions by themselves (a turn's reads,
        # a turn without actions) run without BEGIN and COMMIT around them.
        self.autocommit = bind.execution_options(isolation_level="AUTOCOMMIT")
        if bind.dialect.name == "postgresql":
            self.readers = async_sessionmaker(self.autocommit, expire_on_commit=False)
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

    async def snapshot(self, message: Message) -> Snapshot:
        """What a turn is decided on (``load``): on PostgreSQL one statement on the driver."""
        if self.dialect != "postgresql":
            return await self.read(partial(load, message=message))
        found = await self._on_driver(
            _SNAPSHOT_SQL, message.channel, message.channel_message_id, _senders(message)
        )
        return _snapshot(message, found, self.autocommit.dialect)

    async def commit(self, turn: TurnRecord) -> None:
        """Write a turn whose decision applies no actions (``write_turn``): on PostgreSQL as
        one statement, one round trip; elsewhere in a transaction like any other write."""
        if self.dialect != "postgresql":
            await self.write(partial(write_turn, turn=turn))
            return
        found = await self._on_driver(_TURN_SQL, *_turn_parameters(turn, self.autocommit.dialect))
        if found[0][0] != 1:
            raise Conflict("the conversation moved on")

    async def _on_driver(self, sql: str, *args: Any) -> list[Any]:
        """One statement, a transaction by itself, run by asyncpg on a pooled connection:
        SQLAlchemy's execution around it cost more CPU than the round trip. A statement the
        driver refuses runs once more through SQLAlchemy, which raises its own error for it
        (a repeated message's ``IntegrityError``) and, when the connection is gone,
        invalidates the pool as it does for its own statements. Nothing was written by the
        failed run: the statement is its own transaction."""
        async with self.autocommit.connect() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            try:
                return list(await driver.fetch(sql, *args))
            except Exception:
                log.info("statement refused by the driver; running it through SQLAlchemy")
                return list((await conn.exec_driver_sql(sql, args)).all())

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
