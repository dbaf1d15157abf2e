"""The outbox dispatcher: delivers rows written in the message transaction, with retries.

Workers on any number of hosts share the work: PostgreSQL claims due rows with
``FOR UPDATE SKIP LOCKED``; SQLite serialises claims through its single writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, cast

from sqlalchemy import Table, exists, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, aliased

from bot.crypto import Bound, RowBound
from bot.db.dialect import upsert_into
from bot.db.engine import read_only
from bot.db.models import OutboxMessage

_OUTBOX = cast(Table, OutboxMessage.__table__)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """One outbox row as its handler sees it."""

    id: int
    topic: str
    key: str
    payload: dict[str, Any]
    attempts: int


Handler = Callable[[Delivery], Awaitable[None]]
LEASE = timedelta(minutes=2)
# Tries to record an outcome before giving up (about a minute in all: well within the lease).
FINISH_TRIES = 15
# The longest wait a peer's Retry-After can impose; longer (or absurd) values are cut to it.
MAX_RETRY_AFTER_SECONDS = 3600.0


class RetryLater(Exception):
    """Delivery failed for now; try again (after ``after`` seconds when the peer said so).

    A negative, infinite or NaN ``after`` is dropped: the dispatcher's own backoff applies.
    """

    def __init__(self, reason: str, after: float | None = None) -> None:
        super().__init__(reason)
        self.after = after if after is not None and math.isfinite(after) and after > 0 else None


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """A ``Retry-After`` header (delta-seconds or an HTTP date) as seconds from ``now``.

    Anything else (negative, fractional, words) is None; a huge value stays finite.
    """
    value = (value or "").strip()
    if not value:
        return None
    if value.isascii() and value.isdigit():
        # Compare as text so that ten thousand digits never become an int.
        return float(value) if len(value) <= 9 else 1e9
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


class GiveUp(Exception):
    """Delivery can never succeed (e.g. the platform refuses the request); record it and stop."""


class Blocked(GiveUp):
    """The recipient cannot receive (blocked the bot, left the account, outside WeChat's
    window without consent to subscription messages): recorded as ``blocked``, never retried."""


def backoff(attempts: int, base: float = 2.0, cap: float = 3600.0) -> float:
    return min(cap, base * 2 ** max(0, attempts - 1)) * random.uniform(0.8, 1.2)  # noqa: S311


# The key column's length.
KEY_CHARS = 128


@dataclass(frozen=True)
class Key:
    """What one delivery is. The same action queues the same key again, and the table holds
    a key once, so a repeat never sends twice (a retried transaction is refused; with
    ``enqueue(once=True)`` a platform's repeated delivery is skipped).

    Every row's key is spelled by ``spell``, ``<topic>:<recipient>:<source>:<part>``:

    - ``recipient``: who receives it: a user's stored sender id (as in their lane), the
      case number for the back office;
    - ``source``: what queued it, unique for that recipient, ``<what>.<ids>``:
      ``msg.<message id>`` (the replies to a message), ``update.<id>`` (a Telegram update's
      notice), ``notice.<case no>.<event id>`` (a case notice), ``event.<id>`` (a case
      event's hand-off), ``handover.<request>.<what>.<ms>``, ``staff.<request>.<ms>.<length>``,
      ``claim_locked.<case no>.<s>``, ``alert.<id>`` (a consumer alert),
      ``watch.<certificate no>.<n>`` (a watched certificate's n-th status change);
    - ``part``: which of the source's rows, from 0 (a reply sent as several messages).

    Keys are only built, never parsed; ``weiquan keys rotate`` renames the
    ``<topic>:<recipient>:`` prefix of rows queued for a clear platform id (``prefix``).
    """

    recipient: str
    source: str
    part: int = 0

    def spell(self, topic: str) -> str:
        middle = f"{self.recipient}:{self.source}"
        key = f"{topic}:{middle}:{self.part}"
        if len(key) > KEY_CHARS:
            # Cutting it would make parts collide: the middle gives way to its hash instead.
            digest = hashlib.sha256(middle.encode()).hexdigest()[:40]
            key = f"{topic}:#{digest}:{self.part}"
        return key


def prefix(topic: str, recipient: str) -> str:
    """What the keys of ``recipient``'s rows of ``topic`` start with (unless hashed)."""
    return f"{topic}:{recipient}:"


@dataclass(frozen=True)
class Queued:
    """One delivery a turn queues (``enqueue``'s arguments, for statements that write many)."""

    topic: str
    key: Key
    payload: dict[str, Any]
    due: datetime
    lane: str | None = None

    @property
    def spelled(self) -> str:
        return self.key.spell(self.topic)


def bound_payload(payload: dict[str, Any], key: str) -> Bound | None:
    """A payload ready for a Core statement: encrypted bound to its delivery's key."""
    kind = cast(RowBound, _OUTBOX.c.payload.type)
    return kind.bound(payload, key)


def _row(
    topic: str,
    spelled: str,
    payload: dict[str, Any],
    due: datetime,
    created: datetime | None,
    lane: str | None,
) -> dict[str, Any]:
    return {
        "topic": topic,
        "key": spelled,
        "payload": bound_payload(payload, spelled),
        "status": "pending",
        "attempts": 0,
        "created_at": created or due,
        "next_attempt_at": due,
        "lane": lane,
    }


def enqueue(
    session: Session,
    *,
    topic: str,
    key: Key,
    payload: dict[str, Any],
    due: datetime,
    once: bool = False,
    created: datetime | None = None,
    lane: str | None = None,
) -> bool:
    """Queue one delivery in the caller's transaction: with ``enqueue_all``, the only way
    rows enter the outbox.

    ``key`` names the delivery (see ``Key``; unique across the table). A second row with the
    same key is refused with the transaction, so a retried transaction never sends twice;
    with ``once`` it is skipped instead (a platform's repeated delivery of one message) and
    False is returned. Rows of one ``lane`` (a recipient: see ``lane_of``) leave in the order
    they were queued. Callers on an ``AsyncSession`` use ``await session.run_sync(enqueue, ...)``.
    """
    spelled = key.spell(topic)
    stmt = upsert_into(session, OutboxMessage).values(
        _row(topic, spelled, payload, due, created, lane)
    )
    if once:
        stmt = stmt.on_conflict_do_nothing(index_elements=["key"])
    return session.execute(stmt.returning(OutboxMessage.id)).first() is not None


def enqueue_all(session: Session, deliveries: Sequence[Queued]) -> None:
    """Queue many deliveries in one statement (a fan-out's batch), as ``enqueue`` queues one:
    a key already in the table refuses the whole transaction."""
    if deliveries:
        session.execute(
            _OUTBOX.insert(),
            [_row(q.topic, q.spelled, q.payload, q.due, None, q.lane) for q in deliveries],
        )


def lane_of(channel: str, sender_id: str) -> str:
    """The delivery lane of one user: their channel and stored sender id (a keyed hash on
    WeChat and Telegram, never the platform id)."""
    return f"{channel}:{sender_id}"[:160]


class OutboxDispatcher:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        batch: int = 50,
        poll_seconds: float = 1.0,
        max_attempts: int = 12,
        max_retry_after: float = MAX_RETRY_AFTER_SECONDS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sessions = sessions
        self.readers = read_only(sessions)
        self.handlers: dict[str, Handler] = {}
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.max_attempts = max_attempts
        self.max_retry_after = max_retry_after
        self.clock = clock
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def register(self, topic: str, handler: Handler) -> None:
        """Deliver rows whose topic equals ``topic`` (e.g. ``reply:telegram``)."""
        self.handlers[topic] = handler

    def wake(self) -> None:
        self._wake.set()

    async def _claim(self) -> list[Delivery]:
        now = self.clock()
        earlier = aliased(OutboxMessage)
        waiting = ("pending", "sending")
        # The first undelivered row of its lane only: the user reads messages in their order
        # even when one of them waits for a retry, whichever worker delivers them.
        held_back = exists().where(
            earlier.lane == OutboxMessage.lane,
            earlier.id < OutboxMessage.id,
            earlier.status.in_(waiting),
        )
        due = (
            OutboxMessage.topic.in_(list(self.handlers)),
            OutboxMessage.status.in_(waiting),
            OutboxMessage.next_attempt_at <= now,
            or_(OutboxMessage.lane.is_(None), ~held_back),
        )
        # Look before locking: on SQLite a claim takes the database's only write lock, and
        # most polls find nothing to send.
        async with self.readers() as session:
            if (
                await session.execute(select(OutboxMessage.id).where(*due).limit(1))
            ).first() is None:
                return []
        async with self.sessions() as session, session.begin():
            # PostgreSQL: rows another worker is claiming are skipped, not waited for. SQLite
            # compiles no FOR UPDATE (its writers are serial already).
            stmt = (
                select(OutboxMessage)
                .where(*due)
                .order_by(OutboxMessage.id)
                .limit(self.batch)
                .with_for_update(skip_locked=True)
            )
            rows = list((await session.execute(stmt)).scalars())
            for row in rows:
                # A lease: if this worker dies mid-delivery, the row becomes due again.
                row.status = "sending"
                row.attempts += 1
                row.next_attempt_at = now + LEASE
            return [Delivery(r.id, r.topic, r.key, dict(r.payload), r.attempts) for r in rows]

    async def _finish(self, row_id: int, **values: Any) -> None:
        """Record a delivery's outcome. A busy database is waited for (SQLite's one writer
        held by a long transaction, e.g. an alert's fan-out batch): a message sent but not
        recorded would be sent again once its lease ran out (seen: 1 in 10,000)."""
        for attempt in range(FINISH_TRIES):
            try:
                async with self.sessions() as session, session.begin():
                    # One statement: loading the row would open its payload for nothing.
                    await session.execute(
                        update(OutboxMessage).where(OutboxMessage.id == row_id).values(**values)
                    )
                return
            except OperationalError:
                if attempt == FINISH_TRIES - 1:
                    raise
                log.info("outbox: recording row %s waits for the database", row_id)
                await asyncio.sleep(min(0.2 * 2**attempt, 5.0))

    async def run_once(self) -> int:
        """Deliver what is due now; returns how many rows were attempted. Once ``stop`` is
        called, the row being delivered is finished and the rest of the claim handed back."""
        if not self.handlers or self._stopping:
            return 0
        rows = await self._claim()
        for index, row in enumerate(rows):
            if self._stopping:
                await self._release([r.id for r in rows[index:]])
                return index
            await self._deliver(row)
        return len(rows)

    async def _release(self, row_ids: list[int]) -> None:
        """Claimed rows not attempted: due again now, for whichever worker runs next."""
        async with self.sessions() as session, session.begin():
            for row_id in row_ids:
                row = await session.get(OutboxMessage, row_id)
                if row is not None and row.status == "sending":
                    row.status = "pending"
                    row.attempts = max(0, row.attempts - 1)
                    row.next_attempt_at = self.clock()

    async def _deliver(self, row: Delivery) -> None:
        now = self.clock()
        try:
            await self.handlers[row.topic](row)
        except Blocked as exc:
            log.info("outbox %s: recipient unreachable: %s", row.key, exc)
            await self._finish(row.id, status="blocked", last_error=str(exc)[:2000])
        except GiveUp as exc:
            log.warning("outbox %s gave up: %s", row.key, exc)
            await self._finish(row.id, status="failed", last_error=str(exc)[:2000])
        except Exception as exc:
            after = (
                exc.after if isinstance(exc, RetryLater) and exc.after else backoff(row.attempts)
            )
            # A peer may ask for any wait (10**30 s would overflow the date): bounded here.
            after = min(after, self.max_retry_after)
            dead = row.attempts >= self.max_attempts
            log.info("outbox %s attempt %s failed: %s", row.key, row.attempts, exc)
            await self._finish(
                row.id,
                status="failed" if dead else "pending",
                last_error=f"{type(exc).__name__}: {exc}"[:2000],
                next_attempt_at=now + timedelta(seconds=after),
            )
        else:
            await self._finish(row.id, status="sent", sent_at=now, last_error=None)

    async def _loop(self) -> None:
        while True:
            try:
                done = await self.run_once()
            except Exception:
                log.exception("outbox pass failed")
                done = 0
            if self._stopping:
                return
            if done:
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
            except TimeoutError:
                pass

    def start(self) -> None:
        self._stopping = False
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="outbox-dispatcher")

    async def stop(self, grace: float = 10.0) -> None:
        """Stop after the delivery in progress (a message sent is recorded as sent, so a
        restart repeats nothing); cancelled if it takes longer than ``grace`` seconds."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), timeout=grace)
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
