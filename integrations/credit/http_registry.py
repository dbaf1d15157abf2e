"""HTTP adapter for a configured outside credit service.

Contract: ``GET {base_url}/businesses/{uscc}/listings`` and ``GET {base_url}/listings?name=``
answer 200 with ``{"listings": [record, ...]}`` (the import header's fields) or 404 for an
unknown business. As the certificate adapter (``integrations.ccc.http_registry``): injected
client, timeout per attempt, bounded retries with backoff, a TTL cache of answers.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from datetime import date
from typing import Any

import httpx

from dialogues.credit_port import CreditList, CreditRecord
from integrations.credit.reader import folded_name
from integrations.credit.registry import RegistryUnavailable

_RETRY_STATUS = {429, 500, 502, 503, 504}


class HttpCreditRegistry:
    """Timeout per attempt, bounded retries with backoff, and a TTL cache of answers."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        *,
        timeout: float = 2.0,
        retries: int = 2,
        backoff: float = 0.2,
        cache_ttl: float = 3600.0,
        cache_size: int = 10_000,
        token: str | None = None,
    ) -> None:
        self._client = client
        self._base = base_url.rstrip("/")
        self._timeout = timeout
        self._retries = retries
        self._backoff = backoff
        self._ttl = cache_ttl
        self._size = cache_size
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._cache: OrderedDict[str, tuple[float, list[CreditRecord]]] = OrderedDict()

    async def by_code(self, uscc: str) -> list[CreditRecord]:
        return await self._cached(f"code:{uscc}", f"{self._base}/businesses/{uscc}/listings", None)

    async def by_name(self, name: str) -> list[CreditRecord]:
        key = folded_name(name)
        if not key:
            return []
        return await self._cached(f"name:{key}", f"{self._base}/listings", {"name": name})

    async def _cached(
        self, key: str, url: str, params: dict[str, str] | None
    ) -> list[CreditRecord]:
        cached = self._cache.get(key)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            self._cache.move_to_end(key)
            return cached[1]
        result = await self._fetch(url, params)
        self._cache[key] = (now + self._ttl, result)
        self._cache.move_to_end(key)
        while len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return result

    async def _fetch(self, url: str, params: dict[str, str] | None) -> list[CreditRecord]:
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
                return []
            if response.status_code in _RETRY_STATUS:
                last_error = f"HTTP {response.status_code}"
                continue
            if response.status_code != 200:
                raise RegistryUnavailable(f"credit service answered HTTP {response.status_code}")
            try:
                return [parse_record(item) for item in response.json()["listings"]]
            except (ValueError, KeyError, TypeError) as exc:
                raise RegistryUnavailable(f"credit service sent a malformed record: {exc}") from exc
        raise RegistryUnavailable(
            f"credit service unreachable after {self._retries + 1} tries: {last_error}"
        )


def parse_record(data: dict[str, Any]) -> CreditRecord:
    """A JSON record to a CreditRecord; missing optional fields become empty."""

    def day(key: str) -> date | None:
        value = data.get(key)
        return date.fromisoformat(value) if value else None

    return CreditRecord(
        uscc=str(data["uscc"]),
        name=str(data.get("name") or ""),
        list=CreditList.parse(str(data["list"])),
        reason=str(data.get("reason") or ""),
        listed_on=day("listed_on"),
        authority=str(data.get("authority") or ""),
        removed_on=day("removed_on"),
        is_sample=bool(data.get("is_sample", False)),
    )
