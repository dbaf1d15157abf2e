"""HTTP adapter for a configured certificate registry service.

Contract: ``GET {base_url}/certificates/{cert_no}`` answers 200 with a JSON record (the
import header's fields) or 404. The client is injected so tests use
``httpx.MockTransport`` and the app shares one pooled client from its lifespan.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx

from dialogues.knowledge_port import Certificate, CertStatus
from integrations.ccc.registry import RegistryUnavailable
from integrations.http_lookup import CachedLookup


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
        self._lookup: CachedLookup[Certificate | None] = CachedLookup(
            client,
            base_url,
            service="registry",
            unavailable=RegistryUnavailable,
            missing=lambda: None,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            cache_ttl=cache_ttl,
            not_found_ttl=not_found_ttl,
            cache_size=cache_size,
            token=token,
        )

    async def get(self, cert_no: str) -> Certificate | None:
        return await self._lookup.get(cert_no, f"/certificates/{cert_no}", parse_record)


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
