"""KeepAlivePool (nlu/wire.py) against local TCP servers that misbehave on purpose.

The app sends every Rasa parse through it, so what matters is what a chat user would
notice: answers arrive whole and in the right request's hands, connections are reused
(that is the point), a server that closed an idle connection costs nothing, and every
failure is a WireError in time (the NLU client then answers with its rules).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio

from nlu.client import NluClient, StaticEndpoint
from nlu.wire import KeepAlivePool, WireError, WireTimeout, query

Handler = Callable[["Server", asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
NOW = datetime(2026, 11, 27, 10, 30, tzinfo=ZoneInfo("Asia/Shanghai"))


class Server:
    """A loopback TCP server running ``handler(server, reader, writer)`` per connection;
    counts connections and keeps the requests it read."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[tuple[str, bytes]] = []
        self.closed_by_client = 0
        self._server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(self, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    async def read_request(self, reader: asyncio.StreamReader) -> tuple[str, bytes] | None:
        """One request (line, body), or None when the client closed the connection."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            self.closed_by_client += 1
            return None
        lines = head.decode("latin-1").split("\r\n")
        length = next(
            int(line.split(":", 1)[1])
            for line in lines
            if line.lower().startswith("content-length")
        )
        request = (lines[0], await reader.readexactly(length))
        self.requests.append(request)
        return request

    async def echo_one(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float = 0.0
    ) -> bool:
        """Reads one request and answers 200 with its body after ``delay``; False when the
        client had closed the connection instead."""
        request = await self.read_request(reader)
        if request is None:
            return False
        await asyncio.sleep(delay)
        writer.write(response(200, request[1]))
        await writer.drain()
        return True


def response(status: int, body: bytes, *extra: str) -> bytes:
    head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


@pytest_asyncio.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[tuple[Server, str]]]]:
    servers: list[Server] = []

    async def start(handler: Handler) -> tuple[Server, str]:
        server = Server(handler)
        servers.append(server)
        return server, await server.start()

    yield start
    for server in servers:
        await server.stop()


def echo(delay: float = 0.0) -> Handler:
    """Answers each request on the connection with its own body, after ``delay``."""

    async def handler(
        server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while await server.echo_one(reader, writer, delay):
            pass

    return handler


def answer_with(data: bytes, linger: float = 0.0) -> Handler:
    """Reads one request, sends ``data`` as the whole answer, keeps the connection open
    for ``linger`` seconds, then closes it."""

    async def handler(
        server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await server.read_request(reader)
        writer.write(data)
        await writer.drain()
        await asyncio.sleep(linger)

    return handler


async def test_sequential_requests_share_one_connection(serve) -> None:  # type: ignore[no-untyped-def]
    server, url = await serve(echo())
    async with KeepAlivePool() as pool:
        for i in range(5):
            answer = await pool.post(
                url, "/model/parse?token=t", f'{{"n":{i}}}'.encode(), seconds=2
            )
            assert (answer.status, json.loads(answer.body)) == (200, {"n": i})
        assert pool.connections_opened == 1 and server.connections == 1
        assert pool.idle_count(url) == 1
    assert server.requests[0][0] == "POST /model/parse?token=t HTTP/1.1"


async def test_concurrent_requests_each_get_their_own_answer(serve) -> None:  # type: ignore[no-untyped-def]
    server, url = await serve(echo(delay=0.05))
    async with KeepAlivePool() as pool:
        bodies = [f'{{"text":"第{i}条"}}'.encode() for i in range(8)]
        answers = await asyncio.gather(*(pool.post(url, "/p", b, seconds=2) for b in bodies))
        assert [a.body for a in answers] == bodies
        assert server.connections == 8  # one request at a time per connection
        # All eight are kept and reused by the next wave: no new connections.
        await asyncio.gather(*(pool.post(url, "/p", b, seconds=2) for b in bodies))
        assert server.connections == 8


async def test_server_closing_an_idle_connection_costs_nothing(serve) -> None:  # type: ignore[no-untyped-def]
    """The server answers one request per connection and then hangs up without saying so
    (no ``Connection: close``), the way a server's keep-alive timeout does."""

    async def one_then_close(
        server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await server.echo_one(reader, writer)

    server, url = await serve(one_then_close)
    async with KeepAlivePool() as pool:
        for i in range(3):
            answer = await pool.post(url, "/p", str(i).encode(), seconds=2)
            assert answer.body == str(i).encode()
            await asyncio.sleep(0.05)  # the close reaches us while idle
        assert server.connections == 3


async def test_a_stale_connection_taken_at_the_moment_of_closing_is_retried(serve) -> None:  # type: ignore[no-untyped-def]
    """The server reads the next request but hangs up without answering: the pool cannot
    have known, so it sends the request once more on a new connection."""

    async def answer_first_only(
        server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if await server.echo_one(reader, writer):
            await server.read_request(reader)  # swallowed: connection closes with no answer

    server, url = await serve(answer_first_only)
    async with KeepAlivePool() as pool:
        assert (await pool.post(url, "/p", b"1", seconds=2)).body == b"1"
        assert (await pool.post(url, "/p", b"2", seconds=2)).body == b"2"
        assert pool.connections_opened == 2


async def test_connection_close_is_honoured(serve) -> None:  # type: ignore[no-untyped-def]
    async def closing(
        server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while (request := await server.read_request(reader)) is not None:
            writer.write(response(200, request[1], "Connection: close"))
            await writer.drain()

    server, url = await serve(closing)
    async with KeepAlivePool() as pool:
        assert (await pool.post(url, "/p", b"a", seconds=2)).body == b"a"
        assert pool.idle_count(url) == 0
        assert (await pool.post(url, "/p", b"b", seconds=2)).body == b"b"
        assert pool.connections_opened == 2


async def test_chunked_answers_and_split_packets_are_assembled(serve) -> None:  # type: ignore[no-untyped-def]
    text = json.dumps({"intent": {"name": "complain"}, "text": "假货" * 50}, ensure_ascii=False)
    data = text.encode()

    async def chunked(
        server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while await server.read_request(reader) is not None:
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for i in range(0, len(data), 37):
                piece = data[i : i + 37]
                writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                await writer.drain()
                await asyncio.sleep(0)
            writer.write(b"0\r\n\r\n")
            await writer.drain()

    server, url = await serve(chunked)
    async with KeepAlivePool() as pool:
        for _ in range(2):
            answer = await pool.post(url, "/p", b"{}", seconds=2)
            assert answer.body.decode() == text
        assert pool.connections_opened == 1


async def test_a_silent_server_times_out_and_its_connection_is_dropped(serve) -> None:  # type: ignore[no-untyped-def]
    async def silent(
        server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await server.read_request(reader)
        await asyncio.sleep(5)

    server, url = await serve(silent)
    async with KeepAlivePool() as pool:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(WireTimeout) as caught:
            await pool.post(url, "/p", b"{}", seconds=0.2)
        assert 0.15 < loop.time() - started < 1.0
        assert isinstance(caught.value, TimeoutError)
        assert "0.20 s" in str(caught.value)
        assert pool.idle_count(url) == 0


async def test_an_answer_cut_short_is_an_error_not_retried(serve) -> None:  # type: ignore[no-untyped-def]
    server, url = await serve(
        answer_with(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"intent"')
    )
    async with KeepAlivePool() as pool:
        with pytest.raises(WireError, match="closed before the answer"):
            await pool.post(url, "/p", b"{}", seconds=2)
    assert len(server.requests) == 1


async def test_garbage_instead_of_http_is_an_error(serve) -> None:  # type: ignore[no-untyped-def]
    server, url = await serve(answer_with(b"SSH-2.0-OpenSSH_9.2\r\n\r\n", linger=1.0))
    async with KeepAlivePool() as pool:
        with pytest.raises(WireError, match="unreadable HTTP answer"):
            await pool.post(url, "/p", b"{}", seconds=2)


async def test_nobody_listening_is_an_error() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    async with KeepAlivePool() as pool:
        with pytest.raises(WireError, match=f"cannot connect to 127.0.0.1:{port}"):
            await pool.post(f"http://127.0.0.1:{port}", "/p", b"{}", seconds=2)


async def test_only_plain_http_urls(serve) -> None:  # type: ignore[no-untyped-def]
    pool = KeepAlivePool()
    assert pool.supports("http://127.0.0.1:5005")
    assert not pool.supports("https://nlu.example.com")
    with pytest.raises(ValueError, match="not a plain http"):
        await pool.post("https://nlu.example.com", "/p", b"{}", seconds=1)


async def test_closing_the_pool_closes_idle_connections(serve) -> None:  # type: ignore[no-untyped-def]
    server, url = await serve(echo())
    pool = KeepAlivePool()
    await pool.post(url, "/p", b"{}", seconds=2)
    await pool.aclose()
    for _ in range(50):
        if server.closed_by_client:
            break
        await asyncio.sleep(0.01)
    assert server.closed_by_client == 1


def test_query_encodes_values_and_skips_empty_ones() -> None:
    assert query(token="a b&c/=") == "?token=a%20b%26c%2F%3D"
    assert query(token=None) == ""
    assert query(token="") == ""


async def test_nlu_client_over_the_wire_answers_and_falls_back(serve) -> None:  # type: ignore[no-untyped-def]
    """The NLU client over the pool: Rasa's answer when it gives one; the rules, not an
    error, when it answers HTTP 500; Rasa again once it is healthy and the pause is over."""
    healthy = True
    rasa_answer = {
        "text": "查一下TS20261127000042",
        "intent": {"name": "case_status", "confidence": 0.97},
        "entities": [],
    }

    async def rasa(
        server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while (request := await server.read_request(reader)) is not None:
            if healthy:
                asked = json.loads(request[1])
                body = json.dumps({**rasa_answer, "text": asked["text"]}).encode()
                writer.write(response(200, body))
            else:
                writer.write(response(500, b'{"status":"failure"}'))
            await writer.drain()

    server, url = await serve(rasa)
    async with httpx.AsyncClient() as http, KeepAlivePool() as wire:
        client = NluClient(
            http,
            StaticEndpoint(url, "s3cr3t/+"),
            timeout=2.0,
            cache_size=0,
            backoff=(0.1, 0.2),
            wire=wire,
        )
        first = await client.parse("查一下TS20261127000042", NOW)
        assert (first.source, first.intent) == ("rasa", "case_status")
        assert server.requests[0][0] == "POST /model/parse?token=s3cr3t%2F%2B HTTP/1.1"
        assert json.loads(server.requests[0][1]) == {"text": "查一下TS20261127000042"}

        healthy = False
        during = await client.parse("查一下TS20261127000042", NOW)
        assert during.source == "rules" and during.intent == "case_status"
        assert "HTTP 500" in client.status()["detail"]

        healthy = True
        await asyncio.sleep(0.15)
        after = await client.parse("查一下TS20261127000042", NOW)
        assert after.source == "rasa"
        assert server.connections == 1  # the 500 did not cost the connection
