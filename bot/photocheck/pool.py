"""The real ``PhotoReader``: recognition in worker processes, off the event loop.

Each worker is a spawned process that loads the OCR models on its first photo and keeps
them; a bot that never sees a photo starts none. ``read`` waits for a free worker when the
queue has room and raises ``Busy`` when it has none; a photo that runs past the time limit
gets ``ReadTimeout`` and its worker is killed (a thread could not be stopped) and replaced on
the next photo. Results come back through the worker's pipe, watched by the event loop, so
no thread waits on a worker.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess
from typing import Any

from bot.photocheck.errors import Busy, PhotoError, ReadTimeout, Unreadable
from bot.photocheck.types import Reading

log = logging.getLogger(__name__)

Recognise = Callable[[bytes], Reading]


def _default_recognise(image: bytes) -> Reading:
    from bot.photocheck.worker import recognise

    return recognise(image)


def _serve(conn: Connection, recognise: Recognise) -> None:
    """The worker's loop: one photo in, one ("ok" | "unreadable" | "error", value) out."""
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return  # the app went away
        try:
            conn.send(("ok", recognise(data)))
        except Unreadable as exc:
            conn.send(("unreadable", str(exc)))
        except Exception as exc:  # a bug in one photo must not kill the worker
            log.exception("photo recognition failed")
            conn.send(("error", repr(exc)))


class _Worker:
    """One process and its pipe; started on first use, killed on timeout."""

    def __init__(self, recognise: Recognise) -> None:
        self._recognise = recognise
        self._proc: SpawnProcess | None = None
        self._conn: Connection | None = None

    def _start(self) -> Connection:
        ctx = multiprocessing.get_context("spawn")  # never fork a process running an event loop
        parent, child = ctx.Pipe(duplex=True)
        proc = ctx.Process(
            target=_serve, args=(child, self._recognise), name="weiquan-photo", daemon=True
        )
        proc.start()
        child.close()
        self._proc, self._conn = proc, parent
        return parent

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.is_alive() else None

    async def run(self, image: bytes, limit: float) -> Reading:
        conn = self._conn
        if conn is None or self._proc is None or not self._proc.is_alive():
            conn = self._start()
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[Any] = loop.create_future()
        fd = conn.fileno()

        def readable() -> None:
            loop.remove_reader(fd)
            if reply.done():
                return
            try:
                reply.set_result(conn.recv())
            except (EOFError, OSError) as exc:
                reply.set_exception(exc)

        loop.add_reader(fd, readable)
        try:
            async with asyncio.timeout(limit):
                # A freshly spawned worker reads only once it has imported: don't block the loop.
                await asyncio.to_thread(conn.send_bytes, image)
                status, value = await reply
        except TimeoutError:
            self.kill()
            raise ReadTimeout(limit) from None
        except (EOFError, OSError) as exc:
            self.kill()
            raise PhotoError("the photo worker stopped") from exc
        except BaseException:
            self.kill()  # cancelled mid-photo: its late answer must not reach the next photo
            raise
        finally:
            loop.remove_reader(fd)
        if status == "ok":
            return value
        if status == "unreadable":
            raise Unreadable(value)
        raise PhotoError(value)

    def kill(self) -> None:
        """Stop the process now; multiprocessing reaps it when the next one starts."""
        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        if conn is not None:
            conn.close()
        if proc is not None:
            proc.kill()


class OcrPool:
    """At most ``workers`` photos read at once, ``queue`` more waiting, ``timeout`` s each.

    ``recognise`` runs in the worker; it must be a module-level function (it is pickled).
    """

    def __init__(
        self,
        *,
        workers: int = 1,
        queue: int = 4,
        timeout: float = 30.0,
        recognise: Recognise = _default_recognise,
    ) -> None:
        if workers < 1 or queue < 0 or timeout <= 0:
            raise ValueError("workers >= 1, queue >= 0 and timeout > 0")
        self.timeout = timeout
        self.queue_limit = queue
        self._workers = [_Worker(recognise) for _ in range(workers)]
        self._free: asyncio.Queue[_Worker] | None = None
        self._waiting = 0

    def _free_workers(self) -> asyncio.Queue[_Worker]:
        if self._free is None:  # created on the loop that reads the first photo
            self._free = asyncio.Queue()
            for worker in self._workers:
                self._free.put_nowait(worker)
        return self._free

    @property
    def waiting(self) -> int:
        """Photos waiting for a worker (not counting those being read)."""
        return self._waiting

    async def read(self, image: bytes) -> Reading:
        free = self._free_workers()
        if free.empty() and self._waiting >= self.queue_limit:
            raise Busy()
        self._waiting += 1
        try:
            worker = await free.get()
        finally:
            self._waiting -= 1
        try:
            return await worker.run(image, self.timeout)
        finally:
            free.put_nowait(worker)

    async def close(self) -> None:
        """Stop every worker (the lifespan calls this on shutdown)."""
        for worker in self._workers:
            worker.kill()
