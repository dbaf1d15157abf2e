"""Rate limits on the public chat endpoints, per client address and per sender.

Each limit is a GCRA token bucket (one float per key: the bucket's "theoretical arrival
time"), held in a bounded LRU table so a flood of distinct addresses or senders cannot grow
memory. Limits are per process: N workers or instances behind a balancer allow N times the
configured rate (docs/security.md).
"""

from __future__ import annotations

import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.settings import ChatSettings
from bot.web.errors import error_body

PREFIX = "/webhooks/rest/"
COUNTED = "weiquan.rate_counted"
POLLS = "/webhooks/rest/pushes"


class KeyedLimiter:
    """Allow ``burst`` requests at once per key, refilled at ``per_minute``; at most ``max_keys``.

    The least recently used key is evicted first; a key not seen for a minute or so has a
    full bucket again anyway, so eviction only forgets keys nobody is sending from.
    """

    def __init__(
        self,
        per_minute: float,
        burst: int,
        *,
        max_keys: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = 60.0 / per_minute
        self.tolerance = self.interval * (max(1, burst) - 1)
        self.max_keys = max(1, max_keys)
        self.clock = clock
        self._tat: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._tat)

    def __contains__(self, key: object) -> bool:
        return key in self._tat

    def hit(self, key: str) -> float:
        """Count one request for ``key``: 0.0 when allowed, else seconds until one would be."""
        now = self.clock()
        tat = max(self._tat.get(key, now), now)
        wait = tat - self.tolerance - now
        if wait > 0:
            self._tat.move_to_end(key)
            return wait
        self._tat[key] = tat + self.interval
        self._tat.move_to_end(key)
        if len(self._tat) > self.max_keys:
            self._tat.popitem(last=False)
        return 0.0


@dataclass
class ChatLimits:
    """The four buckets of the REST channel: messages and polls, per address and per sender."""

    address: KeyedLimiter
    sender: KeyedLimiter
    poll_address: KeyedLimiter
    poll_sender: KeyedLimiter

    @classmethod
    def from_settings(
        cls, settings: ChatSettings, clock: Callable[[], float] = time.monotonic
    ) -> ChatLimits:
        keys = settings.rate_limit_max_keys

        def make(per_minute: float, burst: int) -> KeyedLimiter:
            return KeyedLimiter(per_minute, burst, max_keys=keys, clock=clock)

        return cls(
            address=make(settings.rate_limit_address_per_minute, settings.rate_limit_address_burst),
            sender=make(settings.rate_limit_sender_per_minute, settings.rate_limit_sender_burst),
            poll_address=make(
                settings.rate_limit_poll_address_per_minute,
                max(1, int(settings.rate_limit_poll_address_per_minute // 3)),
            ),
            poll_sender=make(
                settings.rate_limit_poll_sender_per_minute,
                max(1, int(settings.rate_limit_poll_sender_per_minute // 3)),
            ),
        )


MESSAGE = "Too many requests; please wait {seconds} s and try again."


def retry_after(wait: float) -> int:
    """Whole seconds a client should wait (at least 1), as ``Retry-After`` wants them."""
    return max(1, math.ceil(wait))


class RateLimited(Exception):
    """Raised by ``limit_sender``; answered with 429 and ``Retry-After`` by ``install``."""

    def __init__(self, seconds: int) -> None:
        super().__init__(MESSAGE.format(seconds=seconds))
        self.seconds = seconds


def install(app: FastAPI, settings: ChatSettings) -> None:
    """Turn the limits on for ``app`` (unless disabled) and answer ``RateLimited`` with 429."""
    app.state.chat_limits = (
        ChatLimits.from_settings(settings) if settings.rate_limit_enabled else None
    )

    @app.exception_handler(RateLimited)
    async def _limited(request: Request, exc: RateLimited) -> JSONResponse:
        return JSONResponse(
            error_body("rate_limited", str(exc)),
            status_code=429,
            headers={"Retry-After": str(exc.seconds)},
        )

    app.add_middleware(AddressLimit, limits=app.state.chat_limits)


class AddressLimit:
    """ASGI middleware: per-address limits on ``/webhooks/rest/*`` before any body is read.

    Polls (``GET /webhooks/rest/pushes``) carry their sender in the query string, so their
    per-sender limit is checked here too; messages and uploads check theirs after parsing
    (``limit_sender``).
    """

    def __init__(self, app: ASGIApp, limits: ChatLimits | None) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limits = self.limits
        if (
            limits is None
            or scope["type"] != "http"
            or not scope["path"].startswith(PREFIX)
            or scope.get(COUNTED)
        ):
            await self.app(scope, receive, send)
            return
        # Served, this runs in front of the body-size limit too (before a chunked body is
        # buffered) and again inside the app: the request is counted once.
        scope[COUNTED] = True
        client = scope.get("client")
        address = client[0] if client else "unknown"
        if scope["path"] == POLLS:
            wait = limits.poll_address.hit(address)
            if not wait:
                query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
                sender = (query.get("sender") or [""])[0][:128]
                wait = limits.poll_sender.hit(sender) if sender else 0.0
        else:
            wait = limits.address.hit(address)
        if wait:
            await _refuse(send, retry_after(wait))
            return
        await self.app(scope, receive, send)


async def _refuse(send: Send, seconds: int) -> None:
    body = json.dumps(error_body("rate_limited", MESSAGE.format(seconds=seconds))).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(seconds).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def limit_sender(request: Request) -> None:
    """Route dependency: one message or upload from the sender named in the parsed body.

    FastAPI has read (and cached) the body before dependencies run, so this re-reads no
    bytes; a body without a usable sender is left to the route's own validation.
    """
    limits: ChatLimits | None = getattr(request.app.state, "chat_limits", None)
    if limits is None or request.method != "POST":
        return
    sender: object = None
    if request.headers.get("content-type", "").startswith("multipart/"):
        sender = (await request.form()).get("sender")
    else:
        try:
            body = await request.json()
        except ValueError:
            return
        sender = body.get("sender") if isinstance(body, dict) else None
    if not isinstance(sender, str) or not sender:
        return
    wait = limits.sender.hit(sender[:128])
    if wait:
        raise RateLimited(retry_after(wait))
