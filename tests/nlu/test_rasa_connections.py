"""NluClient over its aiohttp session (``rasa_session()``) against loopback Rasa stand-ins,
some of which misbehave on purpose.

The app sends every parse to its own Rasa processes this way, so what matters is what a chat
user would notice: each message gets Rasa's answer for that message, kept-alive connections
are reused (that is the point), a replica that closed an idle connection costs nothing, and a
replica that hangs, hangs up mid-answer, answers garbage or is down costs at most that parse's
Rasa answer, never an error: the rules answer and the other replicas take over.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import parse_qs, urlsplit

import aiohttp
import httpx
import pytest
import pytest_asyncio

from nlu.client import NluClient, StaticEndpoint, rasa_session
from tests.nlu.conftest import NOW

Handler = Callable[["Server", asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

# What the stand-ins answer for each text: an intent the rules would not all agree with, so
# an answer that reached the wrong message shows.
INTENT_FOR = {
    "你好": "greet",
    "谢谢": "thank",
    "转人工": "human_handoff",
    "我要投诉": "complain",
    "查一下TS20261127000042": "case_status",
    "证书号2016010901123456是真的吗": "check_ccc_cert",
    "要赔多少钱": "ask_compensation",
    "再见": "goodbye",
}
TEXTS = list(INTENT_FOR)
TOKEN = "tok"


def rasa_body(text: str) -> bytes:
    intent = INTENT_FOR.get(text, "out_of_scope")
    answer = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.97},
        "entities": [],
        "intent_ranking": [{"name": intent, "confidence": 0.97}],
    }
    return json.dumps(answer, ensure_ascii=False).encode()


def response(status: int, body: bytes, *extra: str) -> bytes:
    head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


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

    async def answer_one(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float = 0.0
    ) -> bool:
        """Reads one parse request and answers it as Rasa would after ``delay``; False when
        the client had closed the connection instead."""
        request = await self.read_request(reader)
        if request is None:
            return False
        await asyncio.sleep(delay)
        writer.write(response(200, rasa_body(json.loads(request[1])["text"])))
        await writer.drain()
        return True

    def texts(self) -> list[str]:
        return [json.loads(body)["text"] for _, body in self.requests]


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


@pytest_asyncio.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """The app's httpx client: NluClient must not touch it when it has a session."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"parse went through httpx: {request.url}")

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as client:
        yield client


def rasa(delay: float = 0.0) -> Handler:
    """Answers each request on the connection as Rasa would, after ``delay``."""

    async def handler(
        server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while await server.answer_one(reader, writer, delay):
            pass

    return handler


def answer_with(data: bytes, linger: float = 0.0) -> Handler:
    """Reads one request, sends ``data`` as the whole answer, keeps the connection open for
    ``linger`` seconds, then closes it."""

    async def handler(
        server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await server.read_request(reader)
        writer.write(data)
        await writer.drain()
        await asyncio.sleep(linger)

    return handler


def client_for(
    http: httpx.AsyncClient,
    session: aiohttp.ClientSession,
    urls: str,
    *,
    token: str | None = TOKEN,
    timeout: float = 5.0,
    backoff: tuple[float, float] = (30.0, 30.0),
) -> NluClient:
    return NluClient(
        http,
        StaticEndpoint(urls, token),
        timeout=timeout,
        cache_size=0,
        backoff=backoff,
        session=session,
    )


async def eventually(condition: Callable[[], bool]) -> bool:
    """Poll without a latency expectation: the limit only stops a broken run."""
    for _ in range(500):
        if condition():
            return True
        await asyncio.sleep(0.01)
    return condition()


async def test_parses_share_one_kept_alive_connection(serve, http) -> None:  # type: ignore[no-untyped-def]
    server, url = await serve(rasa())
    token = "-s3cr3t/+ &="  # a leading "-" and characters that need percent-encoding
    async with rasa_session() as session:
        client = client_for(http, session, url, token=token)
        for text in TEXTS[:5]:
            parse = await client.parse(text, NOW)
            assert (parse.source, parse.intent) == ("rasa", INTENT_FOR[text])
    assert server.connections == 1
    line = server.requests[0][0]
    method, target, version = line.split(" ")
    assert (method, urlsplit(target).path, version) == ("POST", "/model/parse", "HTTP/1.1")
    assert parse_qs(urlsplit(target).query) == {"token": [token]}
    assert server.texts() == TEXTS[:5]
    assert client.status()["engine"] == "rasa"


async def test_concurrent_parses_each_get_their_own_answer(serve, http) -> None:  # type: ignore[no-untyped-def]
    server, url = await serve(rasa(delay=0.05))
    async with rasa_session() as session:
        client = client_for(http, session, url)
        parses = await asyncio.gather(*(client.parse(text, NOW) for text in TEXTS))
        assert [(p.source, p.intent) for p in parses] == [("rasa", INTENT_FOR[t]) for t in TEXTS]
        assert server.connections == len(TEXTS)  # one parse at a time per connection
        # All of them were kept and serve the next wave: no new connections.
        again = await asyncio.gather(*(client.parse(text, NOW) for text in reversed(TEXTS)))
        assert [p.intent for p in again] == [INTENT_FOR[t] for t in reversed(TEXTS)]
        assert server.connections == len(TEXTS)


async def test_a_replica_closing_idle_connections_costs_nothing(serve, http) -> None:  # type: ignore[no-untyped-def]
    """The replica answers one request per connection and then hangs up without saying so
    (no ``Connection: close``), the way a server's keep-alive timeout does."""

    async def one_then_close(
        server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await server.answer_one(reader, writer)

    server, url = await serve(one_then_close)
    async with rasa_session() as session:
        client = client_for(http, session, url)
        for text in TEXTS[:3]:
            assert (await client.parse(text, NOW)).source == "rasa"
            await asyncio.sleep(0.05)  # the close reaches the client while idle
    assert server.connections == 3
    assert client.replica_stats()[url]["failed"] == 0


async def test_a_connection_closed_as_it_is_taken_is_asked_again(serve, http) -> None:  # type: ignore[no-untyped-def]
    """The replica reads the next request but hangs up without answering: the client could
    not have known, so it asks once more on a new connection and the user sees Rasa's answer."""

    async def answer_first_only(
        server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if await server.answer_one(reader, writer):
            await server.read_request(reader)  # swallowed: the connection closes unanswered

    server, url = await serve(answer_first_only)
    async with rasa_session() as session:
        client = client_for(http, session, url)
        assert (await client.parse("你好", NOW)).source == "rasa"
        second = await client.parse("谢谢", NOW)
    assert (second.source, second.intent) == ("rasa", "thank")
    assert server.connections == 2
    assert server.texts() == ["你好", "谢谢", "谢谢"]
    assert client.replica_stats()[url]["failed"] == 0


async def test_connection_close_is_honoured(serve, http) -> None:  # type: ignore[no-untyped-def]
    async def closing(
        server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while (request := await server.read_request(reader)) is not None:
            text = json.loads(request[1])["text"]
            writer.write(response(200, rasa_body(text), "Connection: close"))
            await writer.drain()

    server, url = await serve(closing)
    async with rasa_session() as session:
        client = client_for(http, session, url)
        for text in TEXTS[:3]:
            assert (await client.parse(text, NOW)).intent == INTENT_FOR[text]
    assert server.connections == 3
    assert client.replica_stats()[url]["failed"] == 0


async def test_chunked_answers_in_small_pieces_are_assembled(serve, http) -> None:  # type: ignore[no-untyped-def]
    async def chunked(
        server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while (request := await server.read_request(reader)) is not None:
            data = rasa_body(json.loads(request[1])["text"])
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for i in range(0, len(data), 37):  # pieces that split UTF-8 characters too
                piece = data[i : i + 37]
                writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                await writer.drain()
                await asyncio.sleep(0)
            writer.write(b"0\r\n\r\n")
            await writer.drain()

    server, url = await serve(chunked)
    async with rasa_session() as session:
        client = client_for(http, session, url)
        for text in ["证书号2016010901123456是真的吗", "转人工"]:
            parse = await client.parse(text, NOW)
            assert (parse.source, parse.intent) == ("rasa", INTENT_FOR[text])
    assert server.connections == 1


async def test_a_hanging_replica_costs_one_deadline_and_its_late_answer_is_dropped(
    serve,  # type: ignore[no-untyped-def]
    http,
) -> None:
    """The replica takes the first parse and says nothing until the client has given up: the
    user gets the rules' answer, and the late answer (a wrong intent, on purpose) reaches
    nobody; the next parse goes on a new connection and gets its own answer."""
    gave_up = asyncio.Event()

    async def late_then_healthy(
        server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if server.connections == 1:
            await server.read_request(reader)
            await gave_up.wait()
            writer.write(response(200, rasa_body("再见")))
            await writer.drain()
            await server.read_request(reader)  # the client closed it: None
            return
        while await server.answer_one(reader, writer):
            pass

    server, url = await serve(late_then_healthy)
    async with rasa_session() as session:
        client = client_for(http, session, url, timeout=0.2, backoff=(0.01, 0.01))
        # The guard only stops a broken run: without its deadline the parse would wait forever.
        first = await asyncio.wait_for(client.parse("转人工", NOW), 30)
        assert (first.source, first.intent) == ("rules", "human_handoff")
        assert client.replica_stats()[url]["last_error"] == "TimeoutError: no answer within 0.20 s"
        gave_up.set()
        await asyncio.sleep(0.05)  # past the back-off
        second = await client.parse("谢谢", NOW)
        assert (second.source, second.intent) == ("rasa", "thank")
    assert server.connections == 2
    assert server.closed_by_client >= 1  # the hung connection was dropped, not reused


async def test_an_answer_cut_short_falls_back_without_asking_again(serve, http) -> None:  # type: ignore[no-untyped-def]
    server, url = await serve(
        answer_with(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"intent"')
    )
    async with rasa_session() as session:
        client = client_for(http, session, url)
        parse = await client.parse("查一下TS20261127000042", NOW)
    assert (parse.source, parse.intent) == ("rules", "case_status")
    assert parse.values("case_id") == ["TS20261127000042"]
    assert len(server.requests) == 1
    assert client.status()["engine"] == "rules"


async def test_garbage_instead_of_http_falls_back(serve, http) -> None:  # type: ignore[no-untyped-def]
    server, url = await serve(answer_with(b"SSH-2.0-OpenSSH_9.2\r\n\r\n", linger=1.0))
    async with rasa_session() as session:
        client = client_for(http, session, url)
        parse = await client.parse("转人工", NOW)
    assert (parse.source, parse.intent) == ("rules", "human_handoff")
    assert client.replica_stats()[url]["failed"] == 1
    status = client.status()
    assert "Bad status line" in status["detail"] and "\n" not in status["detail"]  # one line


async def test_a_replica_that_is_down_falls_back(http) -> None:  # type: ignore[no-untyped-def]
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    async with rasa_session() as session:
        client = client_for(http, session, f"http://127.0.0.1:{port}")
        parse = await client.parse("转人工", NOW)
    assert (parse.source, parse.intent) == ("rules", "human_handoff")
    status = client.status()
    assert status["engine"] == "rules" and f"127.0.0.1:{port}" in status["detail"]


@pytest.mark.parametrize(
    "broken",
    [
        "down",
        "cut-short",
        "garbage",
        "http-503",
    ],
)
async def test_a_broken_replica_is_skipped_and_the_other_answers(serve, http, broken) -> None:  # type: ignore[no-untyped-def]
    """Two replicas, the first broken: every parse still gets Rasa's answer, the failed one
    retried on the healthy replica within its deadline, and the broken one is left alone
    during its back-off."""
    handlers: dict[str, Handler] = {
        "cut-short": answer_with(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"in'),
        "garbage": answer_with(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" * 8, linger=1.0),
        "http-503": answer_with(response(503, b'{"status":"overloaded"}')),
    }
    if broken == "down":
        listener = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        bad_url = f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
        listener.close()
        await listener.wait_closed()
    else:
        _, bad_url = await serve(handlers[broken])
    good, good_url = await serve(rasa())
    async with rasa_session() as session:
        client = client_for(http, session, f"{bad_url},{good_url}")
        parses = [await client.parse(text, NOW) for text in TEXTS[:4]]
    assert [(p.source, p.intent) for p in parses] == [("rasa", INTENT_FOR[t]) for t in TEXTS[:4]]
    stats = client.replica_stats()
    assert (stats[bad_url]["failed"], stats[bad_url]["answered"]) == (1, 0)
    assert (stats[good_url]["failed"], stats[good_url]["answered"]) == (0, 4)
    assert good.texts() == TEXTS[:4]
    assert "(1 of 2 replicas ready)" in client.status()["detail"]


async def test_a_hanging_replica_costs_one_parse_and_the_other_takes_the_rest(
    serve,  # type: ignore[no-untyped-def]
    http,
) -> None:
    release = asyncio.Event()

    async def hang(
        server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await server.read_request(reader)
        await release.wait()

    _, hung_url = await serve(hang)
    good, good_url = await serve(rasa())
    try:
        async with rasa_session() as session:
            client = client_for(http, session, f"{hung_url},{good_url}", timeout=0.2)
            parses = [await client.parse(text, NOW) for text in TEXTS[:4]]
    finally:
        release.set()
    assert [p.source for p in parses] == ["rules", "rasa", "rasa", "rasa"]
    assert [p.intent for p in parses] == [INTENT_FOR[t] for t in TEXTS[:4]]
    assert client.replica_stats()[hung_url]["failed"] == 1
    assert good.texts() == TEXTS[1:4]


async def test_http_500_falls_back_keeps_the_connection_and_recovers(serve, http) -> None:  # type: ignore[no-untyped-def]
    """Rasa's answer when it gives one; the rules, not an error, when it answers HTTP 500;
    Rasa again once it is healthy and the back-off is over."""
    healthy = True

    async def flaky(
        server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while (request := await server.read_request(reader)) is not None:
            if healthy:
                writer.write(response(200, rasa_body(json.loads(request[1])["text"])))
            else:
                writer.write(response(500, b'{"status":"failure"}'))
            await writer.drain()

    server, url = await serve(flaky)
    async with rasa_session() as session:
        client = client_for(http, session, url, backoff=(0.1, 0.2))
        first = await client.parse("查一下TS20261127000042", NOW)
        assert (first.source, first.intent) == ("rasa", "case_status")

        healthy = False
        during = await client.parse("查一下TS20261127000042", NOW)
        assert (during.source, during.intent) == ("rules", "case_status")
        assert "HTTP 500" in client.status()["detail"]

        healthy = True
        await asyncio.sleep(0.15)
        after = await client.parse("查一下TS20261127000042", NOW)
        assert after.source == "rasa"
    assert server.connections == 1  # the 500 did not cost the connection


async def test_closing_the_session_closes_its_connections(serve, http) -> None:  # type: ignore[no-untyped-def]
    server, url = await serve(rasa())
    session = rasa_session()
    client = client_for(http, session, url)
    await asyncio.gather(*(client.parse(text, NOW) for text in TEXTS[:3]))
    assert server.connections == 3
    await session.close()
    assert await eventually(lambda: server.closed_by_client == 3)
