"""The app's NLU client: Rasa when it answers in time, the rule parser whenever it does not.

The bot must never answer with an error because understanding is unavailable (DESIGN.md):
Rasa may be loading, restarting, overloaded or not configured. Every call therefore has a
short deadline, and after a failure Rasa is skipped for a back-off period so a dead server
costs one timeout, not one per message. The first successful call after the back-off puts
Rasa back in use: recovery needs no restart of the app.
"""

from __future__ import annotations

import asyncio
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import httpx

from nlu.entities import normalize_digits
from nlu.normalise import to_parse
from nlu.rules import RuleParser
from nlu.types import Parse

# DIET's cost grows with length and nothing useful hides past this; offsets stay valid
# because the text is only cut, never shifted.
RASA_MAX_CHARS = 512
LONG_TEXT = 200


class RasaEndpoint(Protocol):
    """Where Rasa is and whether it can take requests (RasaSupervisor, StaticEndpoint)."""

    @property
    def url(self) -> str | None: ...

    @property
    def token(self) -> str | None: ...

    @property
    def ready(self) -> bool: ...

    @property
    def state(self) -> str: ...


@dataclass(frozen=True)
class StaticEndpoint:
    """A Rasa server run by someone else (``WEIQUAN_NLU_URL``); assumed ready, probed by use."""

    url: str | None
    token: str | None = None

    @property
    def ready(self) -> bool:
        return bool(self.url)

    @property
    def state(self) -> str:
        return "external" if self.url else "unset"


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


class NluClient:
    """``await client.parse(text, now)`` → ``Parse``; never raises for any input.

    ``http`` is owned by the caller (the app lifespan) so tests can inject a MockTransport.
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
    ) -> None:
        self._http = http
        self._endpoint = endpoint
        self._timeout = timeout
        self._cache_size = cache_size
        self._cache: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._rules = rules or RuleParser()
        self._backoff_min, self._backoff_max = backoff
        self._clock = clock
        self._failures = 0
        self._skip_until = 0.0
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

    async def _rasa(self, text: str) -> dict[str, Any] | None:
        cached = self._cache.get(text)
        if cached is not None:
            self._cache.move_to_end(text)
            return cached
        url, token = self._endpoint.url, self._endpoint.token
        if not url or not self._endpoint.ready or self._clock() < self._skip_until:
            return None
        try:
            response = await self._http.post(
                f"{url.rstrip('/')}/model/parse",
                params={"token": token} if token else None,
                json={"text": text},
                timeout=self._timeout,
            )
            response.raise_for_status()
            body = response.json()
            if not isinstance(body, dict) or not isinstance(body.get("intent"), dict):
                raise ValueError("no intent in Rasa's answer")
        except (httpx.HTTPError, ValueError) as exc:
            self._failed(exc)
            return None
        self._failures, self._skip_until, self._last_error, self._last_ok = 0, 0.0, None, True
        self._remember(text, body)
        return body

    def _failed(self, exc: Exception) -> None:
        """Skip Rasa for a while, doubling the pause with each consecutive failure."""
        self._failures += 1
        pause = min(self._backoff_max, self._backoff_min * 2 ** (self._failures - 1))
        self._skip_until = self._clock() + pause
        self._last_ok = False
        self._last_error = f"{type(exc).__name__}: {exc}"[:200] or type(exc).__name__

    def _remember(self, text: str, body: dict[str, Any]) -> None:
        if self._cache_size <= 0:
            return
        self._cache[text] = body
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def status(self) -> dict[str, Any]:
        """For /readyz: which engine answers the next message, and why."""
        ep = self._endpoint
        if not ep.url:
            return {"engine": "rules", "detail": f"no Rasa server ({ep.state})"}
        if not ep.ready:
            return {"engine": "rules", "detail": f"Rasa {ep.state}"}
        wait = self._skip_until - self._clock()
        if wait > 0:
            return {
                "engine": "rules",
                "detail": f"Rasa unreachable ({self._last_error}); retry in {wait:.1f} s",
            }
        detail = "Rasa answering" if self._last_ok else "Rasa up, not yet used"
        return {"engine": "rasa", "detail": f"{detail} at {ep.url}"}
