"""HTTP adapter for a configured outside credit service.

Contract: ``GET {base_url}/businesses/{uscc}/listings`` and ``GET {base_url}/listings?name=``
answer 200 with ``{"listings": [record, ...]}`` (the import header's fields) or 404 for an
unknown business. Requests go through ``integrations.http_lookup``, as the certificate
adapter's do: injected client, timeout per attempt, bounded retries, a TTL cache.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx

from dialogues.credit_port import CreditList, CreditRecord
from integrations.credit.reader import folded_name
from integrations.credit.registry import RegistryUnavailable
from integrations.http_lookup import CachedLookup


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
        self._lookup: CachedLookup[list[CreditRecord]] = CachedLookup(
            client,
            base_url,
            service="credit service",
            unavailable=RegistryUnavailable,
            missing=list,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            cache_ttl=cache_ttl,
            not_found_ttl=cache_ttl,  # an unknown business is as settled as a listed one
            cache_size=cache_size,
            token=token,
        )

    async def by_code(self, uscc: str) -> list[CreditRecord]:
        return await self._lookup.get(f"code:{uscc}", f"/businesses/{uscc}/listings", _listings)

    async def by_name(self, name: str) -> list[CreditRecord]:
        key = folded_name(name)
        if not key:
            return []
        return await self._lookup.get(f"name:{key}", "/listings", _listings, {"name": name})


def _listings(data: Any) -> list[CreditRecord]:
    return [parse_record(item) for item in data["listings"]]


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
