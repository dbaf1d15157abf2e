"""One SQLite writer at a time, queued without SQLite's busy handler.

SQLite's busy handler polls with sleeps of up to 100 ms, so writers that collide wait far
longer than the lock is held. The gate queues this process's writers on an asyncio lock
(FIFO) and the processes sharing a database file on an ``flock`` beside it, which wakes the
next writer the moment the lock is released. PostgreSQL needs none of this (row locks).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy.engine import make_url


def lock_path_for(url: str) -> Path | None:
    """The gate file beside a SQLite database file; None for other databases or memory."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or not parsed.database:
        return None
    if parsed.database == ":memory:":
        return None
    return Path(parsed.database + ".writelock")


async def _flock(fd: int) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        # Another process has it: wait in a thread so the event loop keeps serving.
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)


class WriteGate:
    """The gate is two ``flock`` files: the lock itself and a queue in front of it.

    ``flock`` is not fair: a process that writes every millisecond unlocks and relocks
    before a waiting process's thread is even scheduled, and starves it (measured with two
    workers: one sat idle while the other served everything). A waiter therefore first takes
    the queue lock and keeps it while it waits for the gate, so the holder, coming back for
    its next write, queues behind it instead of cutting in.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._local = asyncio.Lock()
        self._fds: tuple[int, int] | None = None

    def _descriptors(self) -> tuple[int, int]:
        if self._fds is None:
            if self.path is None:
                raise RuntimeError("no gate file for this database")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            queue = self.path.with_name(self.path.name + ".queue")
            self._fds = (
                os.open(queue, os.O_RDWR | os.O_CREAT, 0o600),
                os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600),
            )
        return self._fds

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        async with self._local:
            if self.path is None:
                yield
                return
            queue, gate = self._descriptors()
            await _flock(queue)
            try:
                await _flock(gate)
            finally:
                fcntl.flock(queue, fcntl.LOCK_UN)
            try:
                yield
            finally:
                fcntl.flock(gate, fcntl.LOCK_UN)

    async def idle(self) -> None:
        """Wait, without taking the gate, until no writer of this process holds it.

        A transaction that awaits its statements holds SQLite's lock until the event loop
        comes back to it; turns that would spend that time deciding are held here instead,
        so the loop returns to the lock holder at once.
        """
        if self._local.locked():
            async with self._local:
                pass

    def close(self) -> None:
        if self._fds is not None:
            for fd in self._fds:
                os.close(fd)
            self._fds = None
