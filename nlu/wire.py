"""A small HTTP/1.1 keep-alive client for the app's POSTs to its Rasa processes.

Every chat message costs one ``POST /model/parse`` to a Rasa replica on loopback. Through
httpx that request costs ~1.5 ms of the app's CPU (URL and header objects, the auth and
hook machinery, httpcore's pool), several times what the bytes need, and at a few hundred
parses a second on two cores that CPU is taken from the Rasa processes themselves
(benchmarks/RESULTS.md, "NLU (Rasa)"). ``KeepAlivePool`` does only what those requests
need: plain ``http://``, one request at a time per connection, idle connections kept per
server and reused, responses parsed by httptools (llhttp, the parser uvicorn uses; chunked
and keep-alive handled there), ~0.2 ms a request.

Errors are ``WireError`` (refused, reset, closed early, unparseable; ``WireTimeout``, also
a ``TimeoutError``, when the answer is late); the caller decides what they mean. Answers
must carry a Content-Length or be chunked (Sanic's, so Rasa's, always do). A request that fails on a *reused* connection before
any answer arrived is sent once more on a new one: the server may have closed the idle
connection just as it was taken (a POST to ``/model/parse`` changes nothing, so sending it
again is safe).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import cast
from urllib.parse import quote, urlsplit

import httptools

# Rasa keeps an idle connection for 120 s (rasa.core.constants.DEFAULT_KEEP_ALIVE_TIMEOUT);
# dropping ours well before avoids reusing one the server is closing.
IDLE_SECONDS = 30.0
MAX_IDLE_PER_SERVER = 32


class WireError(Exception):
    """The request did not get a complete HTTP answer."""


class WireTimeout(WireError, TimeoutError):
    """No complete answer within the request's timeout."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


class _Connection(asyncio.Protocol):
    """One TCP connection, one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[Answer] | None = None
        self._body: list[bytes] = []
        self._started = False

    # -- asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # create_connection: a stream

    def data_received(self, data: bytes) -> None:
        self._started = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(WireError(f"unreadable HTTP answer: {exc}"))
            self.close()

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(WireError(f"connection closed before the answer ({exc or 'EOF'})"))

    # -- httptools callbacks ------------------------------------------------------------
    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        waiter, self._waiter = self._waiter, None
        answer = Answer(self._parser.get_status_code(), b"".join(self._body))
        self._body = []
        if not self._parser.should_keep_alive():
            self.close()
        if waiter is not None and not waiter.done():
            waiter.set_result(answer)

    # -- use ----------------------------------------------------------------------------
    @property
    def answered_anything(self) -> bool:
        return self._started

    async def send(self, request: bytes) -> Answer:
        self._started = False  # nothing of this request's answer yet
        if self.closed or self.transport is None:
            raise WireError("connection already closed")
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self._waiter

    def _fail(self, exc: WireError) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


@dataclass(frozen=True)
class _Target:
    host: str
    port: int
    path: str  # base path of the server URL, without the trailing slash


class KeepAlivePool:
    """``await pool.post(url, path, body, seconds=s)`` → ``Answer``; idle connections kept.

    ``url`` is a server's base URL (``http://host:port``), ``path`` what goes after it
    (query included). Only plain HTTP: ``supports(url)`` says whether a URL is one.
    """

    def __init__(self, *, idle_seconds: float = IDLE_SECONDS) -> None:
        self._idle: dict[_Target, list[_Connection]] = {}
        self._targets: dict[str, _Target] = {}
        self._idle_seconds = idle_seconds
        self.connections_opened = 0

    @staticmethod
    def supports(url: str) -> bool:
        return url.startswith("http://")

    async def post(
        self,
        url: str,
        path: str,
        body: bytes,
        *,
        seconds: float,
    ) -> Answer:
        target = self._target(url)
        request = self._request(target, path, body)
        try:
            async with asyncio.timeout(seconds):
                connection = self._take(target)
                if connection is not None:
                    try:
                        return await self._send(target, connection, request)
                    except WireError:
                        if connection.answered_anything:
                            raise
                        # The server closed it as we took it: once more, on a new connection.
                return await self._send(target, await self._open(target), request)
        except TimeoutError as exc:
            raise WireTimeout(f"no answer within {seconds:.2f} s") from exc

    async def __aenter__(self) -> KeepAlivePool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()

    def idle_count(self, url: str) -> int:
        return len(self._idle.get(self._target(url), []))

    # -- internals ------------------------------------------------------------------------
    def _target(self, url: str) -> _Target:
        target = self._targets.get(url)
        if target is None:
            if not self.supports(url):
                raise ValueError(f"not a plain http:// URL: {url!r}")
            parts = urlsplit(url)
            if not parts.hostname:
                raise ValueError(f"no host in {url!r}")
            target = _Target(parts.hostname, parts.port or 80, parts.path.rstrip("/"))
            self._targets[url] = target
        return target

    @staticmethod
    def _request(target: _Target, path: str, body: bytes) -> bytes:
        lines = [
            f"POST {target.path}{path} HTTP/1.1",
            f"Host: {target.host}:{target.port}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    def _take(self, target: _Target) -> _Connection | None:
        idle = self._idle.get(target)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if not connection.closed and now - connection.idle_since < self._idle_seconds:
                return connection
            connection.close()
        return None

    async def _open(self, target: _Target) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, connection = await loop.create_connection(_Connection, target.host, target.port)
        except OSError as exc:
            raise WireError(f"cannot connect to {target.host}:{target.port}: {exc}") from exc
        self.connections_opened += 1
        return connection

    async def _send(self, target: _Target, connection: _Connection, request: bytes) -> Answer:
        try:
            answer = await connection.send(request)
        except BaseException:  # failed, timed out or cancelled: its state is unknown
            connection.close()
            raise
        if not connection.closed:
            idle = self._idle.setdefault(target, [])
            if len(idle) < MAX_IDLE_PER_SERVER:
                connection.idle_since = time.monotonic()
                idle.append(connection)
            else:
                connection.close()
        return answer


def query(**params: str | None) -> str:
    """``?a=1&b=2`` for the given non-empty parameters, values percent-encoded."""
    pairs = [f"{name}={quote(value, safe='')}" for name, value in params.items() if value]
    return "?" + "&".join(pairs) if pairs else ""
