"""The HTTP registry adapter against an httpx.MockTransport registry double."""

from __future__ import annotations

import httpx
import pytest

from dialogues.knowledge_port import CertStatus
from integrations.ccc.http_registry import HttpRegistry
from integrations.ccc.registry import RegistryUnavailable

RECORD = {
    "cert_no": "2024010914000001",
    "holder": "深圳甲电子有限公司",
    "manufacturer": "深圳甲电子有限公司",
    "product": "移动电源",
    "model": "PB-1",
    "category_code": "0914",
    "status": "暂停",
    "issued_on": "2024-03-01",
    "expires_on": "2029-02-28",
}


def registry(handler: httpx.MockTransport, **kwargs: float | int) -> HttpRegistry:
    client = httpx.AsyncClient(transport=handler)
    return HttpRegistry(client, "https://registry.test/api", backoff=0, token="t0k", **kwargs)  # type: ignore[arg-type]


async def test_found_record_is_parsed_and_cached() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json=RECORD)

    reg = registry(httpx.MockTransport(handler))
    first = await reg.get("2024010914000001")
    second = await reg.get("2024010914000001")
    assert first == second and first is not None
    assert first.status is CertStatus.SUSPENDED
    assert len(calls) == 1
    assert calls[0].url.path == "/api/certificates/2024010914000001"
    assert calls[0].headers["Authorization"] == "Bearer t0k"


async def test_404_means_not_found_and_is_cached_too() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(404)

    reg = registry(httpx.MockTransport(handler))
    assert await reg.get("2024010914999999") is None
    assert await reg.get("2024010914999999") is None
    assert calls == 1


async def test_server_errors_are_retried() -> None:
    answers = iter([httpx.Response(503), httpx.Response(502), httpx.Response(200, json=RECORD)])
    reg = registry(httpx.MockTransport(lambda request: next(answers)), retries=2)
    assert await reg.get("2024010914000001") is not None


async def test_timeouts_exhaust_retries_then_report_unavailable() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ReadTimeout("slow", request=request)

    reg = registry(httpx.MockTransport(handler), retries=2)
    with pytest.raises(RegistryUnavailable, match="3 tries"):
        await reg.get("2024010914000001")
    assert calls == 3


async def test_malformed_record_is_unavailable_not_a_crash() -> None:
    reg = registry(httpx.MockTransport(lambda request: httpx.Response(200, json={"status": "?"})))
    with pytest.raises(RegistryUnavailable, match="malformed"):
        await reg.get("2024010914000001")
