"""Looking records up in an outside JSON service: the client every registry adapter shares.

The client is injected (tests use ``httpx.MockTransport`` or a local server; the app shares
one pooled client from its lifespan). Each attempt has a timeout, failures are retried a
bounded number of times with backoff, and answers (a 404 included) are cached for a while.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import httpx

T = TypeVar("T")
_RETRY_STATUS = {429, 500, 502, 503, 504}


class CachedLookup(Generic[T]):
    """GET a JSON record by key; ``missing()`` is the answer to a 404; errors raise
    ``unavailable`` (the registry's own exception) with a message naming ``service``."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        *,
        service: str,
        unavailable: type[Exception],
        missing: Callable[[], T],
        timeout: float,
        retries: int,
        backoff: float,
        cache_ttl: float,
        not_found_ttl: float,
        cache_size: int,
        token: str | None,
    ) -> None:
        self._client = client
        self.base = base_url.rstrip("/")
        self._service = service
        self._unavailable = unavailable
        self._missing = missing
        self._timeout = timeout
        self._retries = retries
        self._backoff = backoff
        self._ttl = cache_ttl
        self._not_found_ttl = not_found_ttl
        self._size = cache_size
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._cache: OrderedDict[str, tuple[float, T]] = OrderedDict()

    async def get(
        self,
        key: str,
        path: str,
        parse: Callable[[Any], T],
        params: dict[str, str] | None = None,
    ) -> T:
        cached = self._cache.get(key)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            self._cache.move_to_end(key)
            return cached[1]
        result, found = await self._fetch(path, params, parse)
        ttl = self._ttl if found else self._not_found_ttl
        self._cache[key] = (now + ttl, result)
        self._cache.move_to_end(key)
        while len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return result

    async def _fetch(
        self, path: str, params: dict[str, str] | None, parse: Callable[[Any], T]
    ) -> tuple[T, bool]:
        url = f"{self.base}{path}"
        last_error = "no attempt"
        for attempt in range(self._retries + 1):
            if attempt:
                await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
            try:
                response = await self._client.get(
                    url, params=params, headers=self._headers, timeout=self._timeout
                )
            except httpx.TransportError as exc:  # timeouts, refused connections
                last_error = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code == 404:
                return self._missing(), False
            if response.status_code in _RETRY_STATUS:
                last_error = f"HTTP {response.status_code}"
                continue
            if response.status_code != 200:
                raise self._unavailable(f"{self._service} answered HTTP {response.status_code}")
            try:
                return parse(response.json()), True
            except (ValueError, KeyError, TypeError) as exc:
                raise self._unavailable(f"{self._service} sent a malformed record: {exc}") from exc
        raise self._unavailable(
            f"{self._service} unreachable after {self._retries + 1} tries: {last_error}"
        )
