"""The HTTP credit adapter against an httpx.MockTransport service double (the same contract
tests as the certificate registry's HTTP adapter)."""

from __future__ import annotations

import httpx
import pytest

from dialogues.credit_port import CreditList
from integrations.credit.http_registry import HttpCreditRegistry
from integrations.credit.registry import RegistryUnavailable
from integrations.credit.sample import code

SZ = code("440305", "MA0XMPL01")
RECORD = {
    "uscc": SZ,
    "name": "深圳市星河数码有限公司",
    "list": "经营异常名录",
    "reason": "通过登记的住所无法联系",
    "listed_on": "2025-06-12",
    "authority": "深圳市市场监督管理局南山监管局",
    "removed_on": None,
}


def registry(handler: httpx.MockTransport, **kwargs: float | int) -> HttpCreditRegistry:
    client = httpx.AsyncClient(transport=handler)
    return HttpCreditRegistry(client, "https://credit.test/api", backoff=0, token="t0k", **kwargs)  # type: ignore[arg-type]


async def test_found_listings_are_parsed_and_cached() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json={"listings": [RECORD]})

    reg = registry(httpx.MockTransport(handler))
    first = await reg.by_code(SZ)
    second = await reg.by_code(SZ)
    assert first == second and len(first) == 1
    assert first[0].list is CreditList.ABNORMAL and first[0].current
    assert len(calls) == 1
    assert calls[0].url.path == f"/api/businesses/{SZ}/listings"
    assert calls[0].headers["Authorization"] == "Bearer t0k"


async def test_look_up_by_name_sends_the_name() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"listings": [RECORD]})

    reg = registry(httpx.MockTransport(handler))
    [record] = await reg.by_name("深圳市星河数码有限公司")
    assert record.uscc == SZ
    assert seen[0].url.path == "/api/listings"
    assert seen[0].url.params["name"] == "深圳市星河数码有限公司"


async def test_404_means_no_listing_and_is_cached_too() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(404)

    reg = registry(httpx.MockTransport(handler))
    assert await reg.by_code(SZ) == []
    assert await reg.by_code(SZ) == []
    assert calls == 1


async def test_server_errors_are_retried() -> None:
    answers = iter(
        [httpx.Response(503), httpx.Response(502), httpx.Response(200, json={"listings": []})]
    )
    reg = registry(httpx.MockTransport(lambda request: next(answers)), retries=2)
    assert await reg.by_code(SZ) == []


async def test_timeouts_exhaust_retries_then_report_unavailable() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ReadTimeout("slow", request=request)

    reg = registry(httpx.MockTransport(handler), retries=2)
    with pytest.raises(RegistryUnavailable, match="3 tries"):
        await reg.by_code(SZ)
    assert calls == 3


async def test_malformed_record_is_unavailable_not_a_crash() -> None:
    reg = registry(
        httpx.MockTransport(lambda r: httpx.Response(200, json={"listings": [{"list": "?"}]}))
    )
    with pytest.raises(RegistryUnavailable, match="malformed"):
        await reg.by_code(SZ)
