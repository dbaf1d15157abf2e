"""The app's NLU client: Rasa when it answers in time, the rule parser whenever it does not.

The bot must never answer with an error because understanding is unavailable (DESIGN.md):
Rasa may be loading, restarting, overloaded or not configured. Every call therefore has a
short deadline, and after a failure Rasa is skipped for a back-off period so a dead server
costs one timeout, not one per message. The first successful call after the back-off puts
Rasa back in use: recovery needs no restart of the app.

Rasa answers one parse at a time per process, so capacity comes from replicas: the endpoint
lists them, each parse goes to the ready replica with the fewest parses in flight (ties in
turn), and a replica that fails is skipped for its own back-off while the others serve; a
parse that hit a failing replica is retried on another one within the same deadline. Only
when no replica is usable does the rule fallback answer.

The Rasa processes the app runs itself are asked over aiohttp (``rasa_session()``): a parse
request costs the app's process about 0.1 ms of CPU there against 0.8 ms through httpx, CPU
the Rasa processes on the same cores need (benchmarks/RESULTS.md, "Rasa client"). Servers
named by ``WEIQUAN_NLU_URL`` go through the app's httpx client (its proxies, TLS, settings).
"""

from __future__ import annotations

import asyncio
import json
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp
import httpx

from nlu.entities import normalize_digits
from nlu.fields import detect_language
from nlu.normalise import to_parse
from nlu.rules import RuleParser
from nlu.types import Parse

# DIET's cost grows with length and nothing useful hides past this; offsets stay valid
# because the text is only cut, never shifted.
RASA_MAX_CHARS = 512
LONG_TEXT = 200
# Rasa keeps an idle connection for 120 s (rasa.core.constants.DEFAULT_KEEP_ALIVE_TIMEOUT);
# dropping ours well before avoids reusing one the server is closing.
IDLE_SECONDS = 30.0
JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Replica:
    """One Rasa server process: where it is, its token, and whether it takes requests."""

    url: str
    token: str | None
    ready: bool


class RasaEndpoint(Protocol):
    """Where Rasa is and whether it can take requests (RasaReplicas, RasaSupervisor,
    StaticEndpoint, DeferredEndpoint). ``url``/``token``/``ready``/``state`` describe the
    whole; ``replicas()`` lists every process the client may send a parse to."""

    @property
    def url(self) -> str | None: ...

    @property
    def token(self) -> str | None: ...

    @property
    def ready(self) -> bool: ...

    @property
    def state(self) -> str: ...

    def replicas(self) -> Sequence[Replica]: ...


def split_urls(urls: str | None) -> list[str]:
    """``WEIQUAN_NLU_URL`` may list several servers separated by commas."""
    return [u.strip().rstrip("/") for u in (urls or "").split(",") if u.strip()]


@dataclass(frozen=True)
class StaticEndpoint:
    """Rasa servers run by someone else (``WEIQUAN_NLU_URL``, comma-separated for several
    replicas sharing ``WEIQUAN_NLU_TOKEN``); assumed ready, probed by use."""

    url: str | None
    token: str | None = None

    @property
    def ready(self) -> bool:
        return bool(split_urls(self.url))

    @property
    def state(self) -> str:
        return "external" if self.ready else "unset"

    def replicas(self) -> list[Replica]:
        return [Replica(url, self.token, True) for url in split_urls(self.url)]


def rasa_session() -> aiohttp.ClientSession:
    """The aiohttp session for the app's own Rasa processes (``NluClient(session=…)``):
    idle connections kept per replica and reused, as many as parses in flight (queueing is
    the replicas' and the deadline's business), no cookies, no proxies from the environment.
    Create it inside the event loop; close it (``async with``) to close its connections."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=IDLE_SECONDS),
        cookie_jar=aiohttp.DummyCookieJar(),
    )


def sanitise(text: str) -> str:
    """Control/unassigned characters to spaces and full-width digits and letters to ASCII.

    Rasa's tokenizer and JSON encoding choke on some control characters, and phone keyboards
    often type full-width digits (１３９…) that the model has rarely seen. Every replacement
    is one character for one, so Rasa's offsets stay valid for the original text.
    """
    return normalize_digits(
        "".join(
            " " if unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Cn"} else ch for ch in text
        )
    )


async def _off_loop(text: str, fn: Callable[..., Parse], *args: Any, **kwargs: Any) -> Parse:
    """Run the regex-heavy rule work in a thread for long texts (~60 ms at 10k characters),
    so one pasted essay does not stall every other conversation on the event loop."""
    if len(text) <= LONG_TEXT:
        return fn(*args, **kwargs)
    return await asyncio.to_thread(fn, *args, **kwargs)


@dataclass
class _ReplicaStats:
    """What this client knows about one replica: load, back-off and how it has done."""

    in_flight: int = 0
    answered: int = 0
    failed: int = 0
    turn: int = 0  # when it was last chosen
    failures: int = 0  # consecutive, for the back-off
    skip_until: float = 0.0
    last_error: str | None = None


class NluClient:
    """``await client.parse(text, now)`` → ``Parse``; never raises for any input.

    ``http`` is owned by the caller (the app lifespan) so tests can inject a MockTransport.
    With ``session`` (also the caller's, from ``rasa_session()``) every replica is asked
    over it instead, for a fraction of httpx's CPU per request: the app passes one for the
    Rasa processes it runs itself.
    ``timeout`` bounds the whole Rasa part of a parse, a retry on another replica included.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        endpoint: RasaEndpoint,
        *,
        timeout: float = 0.8,
        cache_size: int = 2048,
        rules: RuleParser | None = None,
        backoff: tuple[float, float] = (1.0, 30.0),
        clock: Callable[[], float] = time.monotonic,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self._http = http
        self._session = session
        self._urls: dict[tuple[str, str | None], str] = {}
        self._endpoint = endpoint
        self._timeout = timeout
        self._cache_size = cache_size
        self._cache: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._rules = rules or RuleParser()
        self._backoff_min, self._backoff_max = backoff
        self._clock = clock
        self._stats: dict[str, _ReplicaStats] = {}
        self._turn = 0
        self._last_error: str | None = None
        self._last_ok = False

    @property
    def endpoint(self) -> RasaEndpoint:
        return self._endpoint

    async def parse(self, text: str, now: datetime) -> Parse:
        """Understand ``text``; Rasa if possible, else the rule fallback."""
        if not isinstance(text, str):
            text = str(text)
        if not text.strip():
            return self._rules.parse(text, now)
        if detect_language(text) == "en":
            # The model is trained on Chinese only; English is read by the rules' English
            # keywords rather than guessed at by a model that never saw it.
            return await _off_loop(text, self._rules.parse, text, now)
        body = await self._rasa(sanitise(text[:RASA_MAX_CHARS]))
        if body is None:
            return await _off_loop(text, self._rules.parse, text, now)
        try:
            return await _off_loop(
                text, to_parse, text, body, now, rule_parse=lambda: self._rules.parse(text, now)
            )
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            self._last_error = f"unreadable Rasa answer: {exc!r}"
            return await _off_loop(text, self._rules.parse, text, now)

    def _stat(self, url: str) -> _ReplicaStats:
        stats = self._stats.get(url)
        if stats is None:
            stats = self._stats[url] = _ReplicaStats()
        return stats

    def _usable(self) -> list[Replica]:
        """Ready replicas not in their back-off, in the endpoint's order."""
        now = self._clock()
        return [
            r for r in self._endpoint.replicas() if r.ready and now >= self._stat(r.url).skip_until
        ]

    def _choose(self, candidates: list[Replica]) -> Replica:
        """Fewest parses in flight; among equals the one chosen longest ago (round robin)."""
        replica = min(
            candidates, key=lambda r: (self._stat(r.url).in_flight, self._stat(r.url).turn)
        )
        self._turn += 1
        self._stat(replica.url).turn = self._turn
        return replica

    async def _rasa(self, text: str) -> dict[str, Any] | None:
        cached = self._cache.get(text)
        if cached is not None:
            self._cache.move_to_end(text)
            return cached
        deadline = time.monotonic() + self._timeout
        tried: set[str] = set()
        while True:
            candidates = [r for r in self._usable() if r.url not in tried]
            remaining = deadline - time.monotonic()
            if not candidates or remaining <= 0:
                return None
            replica = self._choose(candidates)
            tried.add(replica.url)
            body = await self._ask(replica, text, remaining)
            if body is not None:
                self._remember(text, body)
                return body

    async def _ask(self, replica: Replica, text: str, seconds: float) -> dict[str, Any] | None:
        stats = self._stat(replica.url)
        stats.in_flight += 1
        try:
            if self._session is not None:
                body = await self._post(self._session, replica, text, seconds)
            else:
                response = await self._http.post(
                    f"{replica.url.rstrip('/')}/model/parse",
                    params={"token": replica.token} if replica.token else None,
                    json={"text": text},
                    timeout=seconds,
                )
                response.raise_for_status()
                body = response.json()
            if not isinstance(body, dict) or not isinstance(body.get("intent"), dict):
                raise ValueError("no intent in Rasa's answer")
        except (httpx.HTTPError, aiohttp.ClientError, TimeoutError, ValueError) as exc:
            self._failed(stats, exc)
            return None
        finally:
            stats.in_flight -= 1
        stats.answered += 1
        stats.failures, stats.skip_until, stats.last_error = 0, 0.0, None
        self._last_error, self._last_ok = None, True
        return body

    async def _post(
        self, session: aiohttp.ClientSession, replica: Replica, text: str, seconds: float
    ) -> Any:
        """Rasa's decoded answer, within ``seconds``.

        A request that finds its kept-alive connection closed before any answer came is
        sent once more: the server may have closed the idle connection just as it was
        taken, and a parse changes nothing on the server, so asking again is safe.
        """
        url = self._urls.get((replica.url, replica.token))
        if url is None:
            url = f"{replica.url.rstrip('/')}/model/parse"
            if replica.token:
                url += f"?token={quote(replica.token, safe='')}"
            self._urls[replica.url, replica.token] = url
        data = json.dumps({"text": text}, ensure_ascii=False).encode()
        try:
            async with asyncio.timeout(seconds):
                try:
                    status, body = await self._send(session, url, data)
                except aiohttp.ServerDisconnectedError:
                    status, body = await self._send(session, url, data)
        except TimeoutError as exc:
            raise TimeoutError(f"no answer within {seconds:.2f} s") from exc
        if status != 200:
            raise ValueError(f"Rasa answered HTTP {status}")
        return json.loads(body)

    @staticmethod
    async def _send(session: aiohttp.ClientSession, url: str, data: bytes) -> tuple[int, bytes]:
        async with session.post(url, data=data, headers=JSON) as response:
            return response.status, await response.read()

    def _failed(self, stats: _ReplicaStats, exc: Exception) -> None:
        """Skip this replica for a while, doubling the pause with each consecutive failure."""
        stats.failed += 1
        stats.failures += 1
        pause = min(self._backoff_max, self._backoff_min * 2 ** (stats.failures - 1))
        stats.skip_until = self._clock() + pause
        # One line for /readyz: aiohttp quotes a garbled status line over several.
        stats.last_error = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
        self._last_ok = False
        self._last_error = stats.last_error

    def _remember(self, text: str, body: dict[str, Any]) -> None:
        if self._cache_size <= 0:
            return
        self._cache[text] = body
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def replica_stats(self) -> dict[str, dict[str, Any]]:
        """Per replica URL: parses in flight, answered and failed, seconds of back-off left."""
        now = self._clock()
        return {
            url: {
                "in_flight": s.in_flight,
                "answered": s.answered,
                "failed": s.failed,
                "backoff": round(max(0.0, s.skip_until - now), 1),
                "last_error": s.last_error,
            }
            for url, s in self._stats.items()
        }

    def status(self) -> dict[str, Any]:
        """For /readyz: which engine answers the next message, and why."""
        ep = self._endpoint
        replicas = list(ep.replicas())
        if not replicas:
            return {"engine": "rules", "detail": f"no Rasa server ({ep.state})"}
        ready = [r for r in replicas if r.ready]
        if not ready:
            return {"engine": "rules", "detail": f"Rasa {ep.state}"}
        usable = self._usable()
        if not usable:
            now = self._clock()
            wait = min(self._stat(r.url).skip_until for r in ready) - now
            return {
                "engine": "rules",
                "detail": f"Rasa unreachable ({self._last_error}); retry in {wait:.1f} s",
            }
        detail = "Rasa answering" if self._last_ok else "Rasa up, not yet used"
        where = ", ".join(r.url for r in usable)
        if len(replicas) > 1:
            where += f" ({len(usable)} of {len(replicas)} replicas ready)"
        return {"engine": "rasa", "detail": f"{detail} at {where}"}
