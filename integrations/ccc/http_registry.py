"""HTTP adapter for a configured certificate registry service.

Contract: ``GET {base_url}/certificates/{cert_no}`` answers 200 with a JSON record (the
import header's fields) or 404. The client is injected so tests use
``httpx.MockTransport`` and the app shares one pooled client from its lifespan.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from datetime import date
from typing import Any

import httpx

from dialogues.knowledge_port import Certificate, CertStatus
from integrations.ccc.registry import RegistryUnavailable

_RETRY_STATUS = {429, 500, 502, 503, 504}


class HttpRegistry:
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
        not_found_ttl: float = 300.0,
        cache_size: int = 10_000,
        token: str | None = None,
    ) -> None:
        self._client = client
        self._base = base_url.rstrip("/")
        self._timeout = timeout
        self._retries = retries
        self._backoff = backoff
        self._ttl = cache_ttl
        self._not_found_ttl = not_found_ttl
        self._size = cache_size
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._cache: OrderedDict[str, tuple[float, Certificate | None]] = OrderedDict()

    async def get(self, cert_no: str) -> Certificate | None:
        cached = self._cache.get(cert_no)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            self._cache.move_to_end(cert_no)
            return cached[1]
        result = await self._fetch(cert_no)
        ttl = self._ttl if result is not None else self._not_found_ttl
        self._cache[cert_no] = (now + ttl, result)
        self._cache.move_to_end(cert_no)
        while len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return result

    async def _fetch(self, cert_no: str) -> Certificate | None:
        url = f"{self._base}/certificates/{cert_no}"
        last_error = "no attempt"
        for attempt in range(self._retries + 1):
            if attempt:
                await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
            try:
                response = await self._client.get(url, headers=self._headers, timeout=self._timeout)
            except httpx.TransportError as exc:  # timeouts, refused connections
                last_error = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code == 404:
                return None
            if response.status_code in _RETRY_STATUS:
                last_error = f"HTTP {response.status_code}"
                continue
            if response.status_code != 200:
                raise RegistryUnavailable(f"registry answered HTTP {response.status_code}")
            try:
                return parse_record(response.json())
            except (ValueError, KeyError, TypeError) as exc:
                raise RegistryUnavailable(f"registry sent a malformed record: {exc}") from exc
        raise RegistryUnavailable(
            f"registry unreachable after {self._retries + 1} tries: {last_error}"
        )


def parse_record(data: dict[str, Any]) -> Certificate:
    """A registry JSON record to a Certificate; missing optional fields become empty."""

    def day(key: str) -> date | None:
        value = data.get(key)
        return date.fromisoformat(value) if value else None

    return Certificate(
        cert_no=str(data["cert_no"]),
        holder=str(data.get("holder") or ""),
        manufacturer=str(data.get("manufacturer") or ""),
        product=str(data.get("product") or ""),
        model=str(data.get("model") or ""),
        category_code=data.get("category_code") or None,
        status=CertStatus.parse(str(data["status"])),
        issued_on=day("issued_on"),
        expires_on=day("expires_on"),
        is_sample=bool(data.get("is_sample", False)),
    )
