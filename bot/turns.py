"""SQLite turns without thread hops: read a conversation, decide, then write the turn at once.

aiosqlite runs each statement on its own thread and resumes the caller through the event
loop. A turn is five or six statements, and between them the loop serves other requests
while this one holds SQLite's only write lock: measured, 2.8 ms of every 4.6 ms message were
spent inside the lock, which capped one process at about 200 messages/s and made a second
process useless. SQLite on a local file answers a point read or a short insert in tens of
microseconds, so this store runs them synchronously on the loop's own thread, with
statements built once: the write lock is held for the SQL alone.

The pipeline decides a turn on a snapshot read outside the lock and commits it only if the
conversation's revision is unchanged and it is not in a person's hands; otherwise, or when the
database is busy (the busy timeout is zero, so the loop never sleeps here), it takes its
ordinary transactional path, which waits off the loop. PostgreSQL always takes that path.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    bindparam,
    create_engine,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql import Executable

from bot.db.engine import sqlite_begin, sqlite_on_loop, sqlite_pragmas
from bot.db.models import Conversation, InboundMessage, OutboxMessage, TranscriptEntry


@dataclass(frozen=True)
class ConversationRow:
    """What the pipeline needs of a conversation; written back with targeted UPDATEs."""

    id: int
    locale: str
    state: dict[str, Any]
    handover: str | None
    revision: int = 0


@dataclass(frozen=True)
class Snapshot:
    conversation: ConversationRow | None
    # The replies already given to this channel message, when it is a repeat.
    answer: list[dict[str, Any]] | None


@dataclass(frozen=True)
class NewConversation:
    """A sender's first message: the conversation row is created with the turn."""

    channel: str
    sender_id: str
    locale: str
    address: str | None = None

    def row(self) -> ConversationRow:
        return ConversationRow(id=0, locale=self.locale, state={}, handover=None, revision=0)


@dataclass(frozen=True)
class TurnRows:
    """Everything one answered message writes besides the conversation's new state."""

    inbound: dict[str, Any]
    transcript: list[dict[str, Any]]
    outbox: list[dict[str, Any]]


# How often the write-ahead log is copied back into the database file, off the event loop.
CHECKPOINT_SECONDS = 0.5

_conversations = cast(Table, Conversation.__table__)
_inbound = cast(Table, InboundMessage.__table__)

# The conversation and, in the same statement, the answer already given to this message of
# this sender (another sender's message with the same id is not a repeat).
READ_SNAPSHOT = select(
    _conversations.c.id,
    _conversations.c.locale,
    _conversations.c.state,
    _conversations.c.handover,
    _conversations.c.revision,
    select(_inbound.c.replies)
    .where(
        _inbound.c.channel == bindparam("channel"),
        _inbound.c.conversation_id == _conversations.c.id,
        _inbound.c.channel_message_id == bindparam("message_id"),
    )
    .scalar_subquery()
    .label("answer"),
).where(
    _conversations.c.channel == bindparam("channel"),
    _conversations.c.sender_id == bindparam("sender_id"),
)
ADVANCE = (
    update(_conversations)
    .where(
        _conversations.c.id == bindparam("b_id"),
        _conversations.c.revision == bindparam("b_revision"),
        _conversations.c.handover.is_(None),
    )
    .values(
        state=bindparam("b_state", type_=_conversations.c.state.type),
        message_count=_conversations.c.message_count + 1,
        revision=_conversations.c.revision + 1,
        updated_at=bindparam("b_now", type_=_conversations.c.updated_at.type),
    )
)
CREATE = (
    sqlite_insert(_conversations)
    .on_conflict_do_nothing(index_elements=["channel", "sender_id"])
    .returning(_conversations.c.id)
)
INSERT_INBOUND = insert(InboundMessage)
INSERT_TRANSCRIPT = insert(TranscriptEntry)
INSERT_OUTBOX = insert(OutboxMessage)


class _Stale(Exception):
    """The conversation moved on (or a person took it) after the snapshot."""


class SqliteTurnStore:
    """One reading and one writing connection to the app's SQLite file, used on the loop,
    and a thread that checkpoints the write-ahead log beside them."""

    def __init__(self, url: str, *, checkpoint_seconds: float = CHECKPOINT_SECONDS) -> None:
        sync_url = make_url(url).set(drivername="sqlite")
        self._engines: list[Engine] = []
        self._reader = self._connect(sync_url, writer=False)
        self._writer = self._connect(sync_url, writer=True)
        self._stop = threading.Event()
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop,
            args=(str(sync_url.database), checkpoint_seconds),
            name="sqlite-checkpoint",
            daemon=True,
        )
        self._checkpointer.start()

    def _checkpoint_loop(self, path: str, seconds: float) -> None:
        """PASSIVE checkpoints never wait for readers or writers; one that cannot finish is
        simply repeated next time."""
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout=0")
            while not self._stop.wait(seconds):
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            conn.close()

    def _connect(self, url: Any, *, writer: bool) -> Connection:
        engine = create_engine(url, poolclass=StaticPool)
        # A busy database sends the turn down the ordinary path instead of sleeping here.
        for setup in (sqlite_pragmas, sqlite_on_loop):
            event.listen(engine, "connect", setup)
        if writer:
            event.listen(engine, "begin", sqlite_begin)
        self._engines.append(engine)
        return engine.connect()

    def scalars(self, stmt: Executable) -> list[Any] | None:
        """One column read on the loop; None if SQLite is busy."""
        conn = self._reader
        try:
            return list(conn.execute(stmt).scalars())
        except OperationalError:
            return None
        finally:
            conn.rollback()

    def snapshot(self, channel: str, sender_id: str, channel_message_id: str) -> Snapshot | None:
        """The conversation and any earlier answer to this message; None if SQLite is busy."""
        conn = self._reader
        try:
            row = conn.execute(
                READ_SNAPSHOT,
                {"channel": channel, "sender_id": sender_id, "message_id": channel_message_id},
            ).first()
        except OperationalError:
            return None
        finally:
            conn.rollback()
        if row is None:
            return Snapshot(None, None)
        return Snapshot(
            ConversationRow(row.id, row.locale, row.state, row.handover, row.revision), row.answer
        )

    def commit(
        self,
        conversation: ConversationRow | NewConversation,
        state: dict[str, Any],
        now: Any,
        rows_for: Callable[[int], TurnRows],
    ) -> int | None:
        """Write the turn if the conversation is as the snapshot saw it and return the
        conversation's id; None if it moved on, the message is a repeat or SQLite is busy.

        ``rows_for`` builds the turn's rows for the conversation id (known only once a new
        conversation is inserted).
        """
        conn = self._writer
        try:
            with conn.begin():
                if isinstance(conversation, NewConversation):
                    conversation_id = conn.execute(
                        CREATE,
                        {
                            "channel": conversation.channel,
                            "sender_id": conversation.sender_id,
                            "address": conversation.address,
                            "locale": conversation.locale,
                            "state": state,
                            "message_count": 1,
                            "revision": 1,
                            "created_at": now,
                            "updated_at": now,
                        },
                    ).scalar_one_or_none()
                    if conversation_id is None:  # a concurrent first message created it
                        raise _Stale
                else:
                    conversation_id = conversation.id
                    advanced = conn.execute(
                        ADVANCE,
                        {
                            "b_id": conversation.id,
                            "b_revision": conversation.revision,
                            "b_state": state,
                            "b_now": now,
                        },
                    )
                    if advanced.rowcount != 1:
                        raise _Stale
                rows = rows_for(conversation_id)
                conn.execute(INSERT_INBOUND, rows.inbound)
                conn.execute(INSERT_TRANSCRIPT, rows.transcript)
                if rows.outbox:
                    conn.execute(INSERT_OUTBOX, rows.outbox)
        except (_Stale, IntegrityError, OperationalError):
            # Stale, a concurrent delivery of the same message won, or the database is busy.
            return None
        return int(conversation_id)

    def close(self) -> None:
        self._stop.set()
        self._checkpointer.join(timeout=5)
        for conn in (self._reader, self._writer):
            conn.close()
        for engine in self._engines:
            engine.dispose()
