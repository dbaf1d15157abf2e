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
Prepare = Callable[[], None]


def _default_recognise(image: bytes) -> Reading:
    from bot.photocheck.worker import recognise

    return recognise(image)


def _default_prepare() -> None:
    from bot.photocheck.worker import prepare

    prepare()


def _serve(conn: Connection, recognise: Recognise, prepare: Prepare | None) -> None:
    """The worker: load what it needs, say ("ready", None), then one photo in, one
    ("ok" | "unreadable" | "error", value) out, until the app goes away."""
    try:
        if prepare is not None:
            prepare()
        conn.send(("ready", None))
    except Exception as exc:
        log.exception("photo worker could not start")
        conn.send(("error", repr(exc)))
        return
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return
        try:
            conn.send(("ok", recognise(data)))
        except Unreadable as exc:
            conn.send(("unreadable", str(exc)))
        except Exception as exc:  # a bug in one photo must not kill the worker
            log.exception("photo recognition failed")
            conn.send(("error", repr(exc)))


async def _receive(conn: Connection) -> Any:
    """The worker's next message, waited for by the event loop (no thread blocks on it)."""
    loop = asyncio.get_running_loop()
    reply: asyncio.Future[Any] = loop.create_future()
    fd = conn.fileno()

    def readable() -> None:
        loop.remove_reader(fd)
        if not reply.done():
            try:
                reply.set_result(conn.recv())
            except (EOFError, OSError) as exc:
                reply.set_exception(exc)

    loop.add_reader(fd, readable)
    try:
        return await reply
    finally:
        loop.remove_reader(fd)


class _Worker:
    """One process and its pipe; started on first use, killed on timeout."""

    def __init__(self, recognise: Recognise, prepare: Prepare | None) -> None:
        self._recognise = recognise
        self._prepare = prepare
        self._proc: SpawnProcess | None = None
        self._conn: Connection | None = None

    async def _start(self, limit: float) -> Connection:
        ctx = multiprocessing.get_context("spawn")  # never fork a process running an event loop
        parent, child = ctx.Pipe(duplex=True)
        proc = ctx.Process(
            target=_serve,
            args=(child, self._recognise, self._prepare),
            name="weiquan-photo",
            daemon=True,
        )
        proc.start()
        child.close()
        self._proc, self._conn = proc, parent
        try:
            async with asyncio.timeout(limit):
                status, value = await _receive(parent)
        except TimeoutError:
            self.kill()
            raise ReadTimeout(limit) from None
        except BaseException:
            self.kill()
            raise
        if status != "ready":
            self.kill()
            raise PhotoError(value)
        return parent

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.is_alive() else None

    async def run(self, image: bytes, limit: float, startup: float) -> Reading:
        conn = self._conn
        if conn is None or self._proc is None or not self._proc.is_alive():
            conn = await self._start(startup)
        try:
            async with asyncio.timeout(limit):
                # A large photo fills the pipe until the worker reads it: not on the loop.
                await asyncio.to_thread(conn.send_bytes, image)
                status, value = await _receive(conn)
        except TimeoutError:
            self.kill()
            raise ReadTimeout(limit) from None
        except (EOFError, OSError) as exc:
            self.kill()
            raise PhotoError("the photo worker stopped") from exc
        except BaseException:
            self.kill()  # cancelled mid-photo: its late answer must not reach the next photo
            raise
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

    A worker starts with the first photo it gets and loads the models before it says it is
    ready; that start has its own limit, ``startup`` s, and does not count against the photo's.
    ``recognise`` and ``prepare`` run in the worker: module-level functions (they are pickled).
    """

    def __init__(
        self,
        *,
        workers: int = 1,
        queue: int = 4,
        timeout: float = 30.0,
        startup: float = 120.0,
        recognise: Recognise = _default_recognise,
        prepare: Prepare | None = _default_prepare,
    ) -> None:
        if workers < 1 or queue < 0 or timeout <= 0 or startup <= 0:
            raise ValueError("workers >= 1, queue >= 0, timeout > 0 and startup > 0")
        self.timeout = timeout
        self.startup = startup
        self.queue_limit = queue
        self._workers = [_Worker(recognise, prepare) for _ in range(workers)]
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
            return await worker.run(image, self.timeout, self.startup)
        finally:
            free.put_nowait(worker)

    async def close(self) -> None:
        """Stop every worker (the lifespan calls this on shutdown)."""
        for worker in self._workers:
            worker.kill()
