"""Photos read in the background: the ``ReadPhoto`` action's applier, and the way back.

Applying ``ReadPhoto`` inside the turn's transaction takes a place among ``limit`` photos
being read (no place: the receipt is False and the user is told to try in a minute). The
place is released if the transaction rolls back; once it commits the photo is read off the
event loop by the ``PhotoReader`` (``bot/photocheck``: worker processes with a queue limit
and a per-photo time limit). The reading is stored on the evidence row (encrypted, bound
to the row) and comes back to the pipeline as a message of kind ``reading`` that is
answered through the outbox (Telegram, WeChat customer-service messages) or, on the web
chat, through the transcript the page polls (``GET /webhooks/rest/pushes``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, cast

from sqlalchemy import Table, event, update
from sqlalchemy.orm import Session

from bot.crypto import RowBound
from bot.db.models import Evidence
from bot.evidence import EvidenceStore
from bot.photocheck.errors import Busy, ReadTimeout
from dialogues.actions import ReadPhoto
from dialogues.reading import PhotoReading, ReadField

log = logging.getLogger(__name__)
# OCR workers run this much nicer than the app: they take only the CPU the chat leaves.
WORKER_NICENESS = 10
KINDS = {"nameplate": "label", "ccc_label": "label", "packaging": "label", "listing": "listing"}


class PhotoReader(Protocol):
    """``bot.photocheck.PhotoReader``: raises its ``Busy`` and ``ReadTimeout`` when it must."""

    async def read(self, image: bytes) -> Any: ...


def outcome_of(exc: BaseException) -> str:
    """The reader's refusal as the dialogue words it."""
    if isinstance(exc, Busy):
        return "busy"
    if isinstance(exc, ReadTimeout):
        return "timeout"
    return "failed"


def tune_worker(threads: int, seconds: float = 20.0) -> None:
    """In a new OCR worker, before its models load: below the chat in CPU priority (the
    threads onnxruntime starts inherit it, so a photo being read never slows a reply on a
    busy machine), with ``WEIQUAN_PHOTO_THREADS`` as the settings read it, and turned
    readings of a sideways photo kept within 80 % of the per-photo limit of ``seconds``."""
    from bot.photocheck import worker

    os.nice(WORKER_NICENESS)
    worker.THREADS = threads
    worker.BUDGET = 0.8 * seconds


def prepare_worker(threads: int, seconds: float = 20.0) -> None:
    """The pool's ``prepare``: tune the worker, then load the models (pickled with its
    arguments into the worker process)."""
    from bot.photocheck import worker

    tune_worker(threads, seconds)
    worker.prepare()


def to_dialogue(evidence_id: int, reading: Any) -> PhotoReading:
    """A ``bot.photocheck.Reading`` as the dialogue sees it."""
    kind = str(getattr(reading.kind, "value", reading.kind))
    qr = tuple(str(q.text) for q in reading.qr)
    mark = str(getattr(reading.ccc_mark, "value", reading.ccc_mark))
    best: dict[str, ReadField] = {}
    for f in reading.fields:
        seen = best.get(f.name)
        if seen is None or f.confidence > seen.confidence:
            best[f.name] = ReadField(f.name, f.value, float(f.confidence))
    return PhotoReading(
        evidence_id,
        "read",
        KINDS.get(kind, "qr" if qr and not reading.fields else "unknown"),
        reading.text,
        tuple(best.values()),
        qr,
        {"present": True, "absent": False}.get(mark),
    )


@dataclass(frozen=True)
class Job:
    evidence_id: int
    sha256: str
    channel: str
    sender_id: str
    lang: str


Deliver = Callable[[Job, PhotoReading], Awaitable[Any]]


class PhotoDesk:
    """At most ``limit`` photos queued or being read in this process."""

    def __init__(
        self,
        reader: PhotoReader,
        evidence: EvidenceStore,
        *,
        limit: int = 8,
        convert: Callable[[int, Any], PhotoReading] = to_dialogue,
    ) -> None:
        self.reader = reader
        self.evidence = evidence
        self.limit = limit
        self.convert = convert
        self.deliver: Deliver | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._taken = 0
        self.tasks: set[asyncio.Task[None]] = set()

    def serve(self, deliver: Deliver) -> None:
        """Called on the event loop: where readings go (the pipeline)."""
        self.loop = asyncio.get_running_loop()
        self.deliver = deliver

    @property
    def taken(self) -> int:
        return self._taken

    def apply(self, session: Session, job: Job) -> bool:
        """The applier: a place now, the read once the transaction commits."""
        if self.loop is None or not self._take():
            return False
        loop = self.loop
        settled = False

        def committed(_session: Session) -> None:
            nonlocal settled
            if not settled:
                settled = True
                loop.call_soon_threadsafe(self._start, job)

        def rolled_back(_session: Session) -> None:
            nonlocal settled
            if not settled:
                settled = True
                self._give_back()

        event.listen(session, "after_commit", committed, once=True)
        event.listen(session, "after_rollback", rolled_back, once=True)
        return True

    def _take(self) -> bool:
        with self._lock:
            if self._taken >= self.limit:
                return False
            self._taken += 1
            return True

    def _give_back(self) -> None:
        with self._lock:
            self._taken -= 1

    def _start(self, job: Job) -> None:
        task = asyncio.create_task(self._read(job), name=f"photo:{job.evidence_id}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _read(self, job: Job) -> None:
        try:
            reading = await self.read(job)
        finally:
            self._give_back()
        if self.deliver is not None:
            try:
                await self.deliver(job, reading)
            except Exception:
                log.exception("photo %s: the reading could not be answered", job.evidence_id)

    async def read(self, job: Job) -> PhotoReading:
        data = await self.evidence.load(job.sha256)
        if data is None:
            return PhotoReading(job.evidence_id, "failed")
        try:
            return self.convert(job.evidence_id, await self.reader.read(data))
        except Exception as exc:
            log.info("photo %s not read: %s", job.evidence_id, exc)
            return PhotoReading(job.evidence_id, cast(Any, outcome_of(exc)))

    async def drain(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


def store_reading(session: Session, *, reading: PhotoReading, now: datetime) -> None:
    """The reading on its evidence row: text and fields sealed to the row."""
    kind = cast(RowBound, cast(Table, Evidence.__table__).c.reading.type)
    session.execute(
        update(Evidence)
        .where(Evidence.id == reading.evidence_id)
        .values(reading=kind.bound(reading.as_dict(), reading.evidence_id), read_at=now)
    )


def job_of(action: ReadPhoto, channel: str, sender_id: str, lang: str) -> Job:
    return Job(action.evidence_id, action.sha256, channel, sender_id, lang)


def utcnow() -> datetime:
    return datetime.now(UTC)
