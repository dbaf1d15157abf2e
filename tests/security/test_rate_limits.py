"""Rate limits on the REST channel: per address and per sender, 429 with Retry-After, bounded memory."""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from bot.db.models import Evidence, InboundMessage
from bot.settings import ChatSettings, NluSettings, Settings
from bot.web.limits import BodyLimit
from bot.web.ratelimit import KeyedLimiter
from tests.bot.backoffice_helpers import office_app
from tests.factories import png_bytes, running_app

pytestmark = pytest.mark.databases("sqlite")

WEBHOOK = "/webhooks/rest/webhook"
UPLOAD = "/webhooks/rest/upload"
PUSHES = "/webhooks/rest/pushes"


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    """Small limits, so a test reaches them in a few requests."""
    return Settings(
        environment="test",
        data_dir=tmp_path / "var",
        database_url=db_url,
        nlu=NluSettings(manage=False),
        chat=ChatSettings(
            rate_limit_sender_per_minute=6,
            rate_limit_sender_burst=3,
            rate_limit_address_per_minute=6,
            rate_limit_address_burst=8,
            rate_limit_poll_sender_per_minute=9,
            rate_limit_poll_address_per_minute=15,
        ),
    )


@pytest.fixture
async def limited(settings: Settings) -> AsyncIterator[FastAPI]:
    async with running_app(settings) as app:
        yield app


def from_address(app: FastAPI, address: str) -> httpx.AsyncClient:
    """A client whose requests come from ``address``, through the same body limit as served."""
    transport = httpx.ASGITransport(
        app=BodyLimit(app, app.state.settings.chat.max_body_bytes), client=(address, 40000)
    )
    return httpx.AsyncClient(transport=transport, base_url="http://weiquan.test")


def assert_limited(response: httpx.Response) -> int:
    assert response.status_code == 429, response.text
    assert response.json()["error"] == "rate_limited"
    assert response.json()["message"]
    seconds = response.headers["retry-after"]
    assert seconds.isdigit() and int(seconds) >= 1
    return int(seconds)


async def inbound_count(app: FastAPI) -> int:
    async with app.state.sessions() as session:
        return int(
            (await session.execute(select(func.count()).select_from(InboundMessage))).scalar_one()
        )


async def test_a_sender_gets_429_after_its_burst_and_others_do_not(limited: FastAPI) -> None:
    async with from_address(limited, "10.0.0.1") as one, from_address(limited, "10.0.0.2") as two:
        for _ in range(3):
            ok = await one.post(WEBHOOK, json={"sender": "flood", "message": "你好"})
            assert ok.status_code == 200
        # The same sender from a fresh address is still the same sender.
        refused = await two.post(WEBHOOK, json={"sender": "flood", "message": "你好"})
        # 6 a minute: the next one is 10 s away.
        assert assert_limited(refused) == 10
        other = await two.post(WEBHOOK, json={"sender": "calm", "message": "你好"})
        assert other.status_code == 200
    assert await inbound_count(limited) == 4


async def test_an_address_is_refused_before_its_body_is_read(limited: FastAPI) -> None:
    async with from_address(limited, "10.0.0.3") as one, from_address(limited, "10.0.0.4") as two:
        for n in range(8):
            ok = await one.post(WEBHOOK, json={"sender": f"s{n}", "message": "你好"})
            assert ok.status_code == 200
        # Not even parsed: invalid JSON would otherwise be a 400.
        refused = await one.post(
            WEBHOOK, content=b"not json", headers={"content-type": "application/json"}
        )
        assert_limited(refused)
        assert (
            await two.post(
                WEBHOOK, content=b"not json", headers={"content-type": "application/json"}
            )
        ).status_code == 400
    assert await inbound_count(limited) == 8


async def test_uploads_count_against_the_sender(limited: FastAPI) -> None:
    async with from_address(limited, "10.0.0.5") as http:
        for n in range(3):
            r = await http.post(
                UPLOAD,
                data={"sender": "snap"},
                files={"file": ("a.png", png_bytes(n), "image/png")},
            )
            assert r.status_code == 200, r.text
        refused = await http.post(
            UPLOAD, data={"sender": "snap"}, files={"file": ("a.png", png_bytes(9), "image/png")}
        )
        assert_limited(refused)
        # A text message from the same sender shares the budget.
        assert_limited(await http.post(WEBHOOK, json={"sender": "snap", "message": "hi"}))
        other = await http.post(
            UPLOAD, data={"sender": "other"}, files={"file": ("a.png", png_bytes(9), "image/png")}
        )
        assert other.status_code == 200
    async with limited.state.sessions() as session:
        stored = (await session.execute(select(func.count()).select_from(Evidence))).scalar_one()
    assert stored == 4


async def test_pushes_polls_are_limited_per_sender_and_per_address(settings: Settings) -> None:
    async with office_app(settings) as app:
        async with from_address(app, "10.0.0.6") as one, from_address(app, "10.0.0.7") as two:
            # Poll burst per sender: a third of 9 a minute.
            for _ in range(3):
                assert (await one.get(PUSHES, params={"sender": "page"})).status_code == 200
            assert_limited(await two.get(PUSHES, params={"sender": "page"}))
            assert (await two.get(PUSHES, params={"sender": "tab"})).status_code == 200
            # Poll burst per address: a third of 15 a minute, whatever the sender.
            for sender in ("new", "newer"):
                assert (await one.get(PUSHES, params={"sender": sender})).status_code == 200
            assert_limited(await one.get(PUSHES, params={"sender": "newest"}))
            # Polls do not use up the address's message budget.
            ok = await one.post(WEBHOOK, json={"sender": "talker", "message": "你好"})
            assert ok.status_code == 200


async def test_limits_can_be_turned_off(tmp_path: Path, sqlite_url: str) -> None:
    settings = Settings(
        environment="test",
        data_dir=tmp_path / "var",
        database_url=sqlite_url,
        nlu=NluSettings(manage=False),
        chat=ChatSettings(
            rate_limit_enabled=False, rate_limit_sender_burst=1, rate_limit_address_burst=1
        ),
    )
    async with running_app(settings) as app, from_address(app, "10.0.0.8") as http:
        for _ in range(5):
            r = await http.post(WEBHOOK, json={"sender": "x", "message": "你好"})
            assert r.status_code == 200


def test_the_bucket_refills_after_retry_after() -> None:
    now = [1000.0]
    limiter = KeyedLimiter(30, 5, max_keys=10, clock=lambda: now[0])
    assert all(limiter.hit("k") == 0.0 for _ in range(5))
    wait = limiter.hit("k")
    assert wait == pytest.approx(2.0)
    now[0] += wait
    assert limiter.hit("k") == 0.0
    assert limiter.hit("k") > 0
    # A quiet minute gives the whole burst back.
    now[0] += 60
    assert all(limiter.hit("k") == 0.0 for _ in range(5))


def test_a_million_keys_keep_the_limiter_bounded() -> None:
    """A flood of distinct addresses or senders cannot grow the table past its bound."""
    limiter = KeyedLimiter(30, 5, max_keys=10_000)
    keys = [f"198.51.{n >> 8 & 255}.{n & 255}/{n}" for n in range(1_000_000)]
    largest = 0
    for n, key in enumerate(keys):
        limiter.hit(key)
        if n % 1000 == 0:
            largest = max(largest, len(limiter))
    assert max(largest, len(limiter)) == 10_000
    # The least recently seen keys were forgotten, the latest are still counted.
    assert keys[0] not in limiter and keys[-10_001] not in limiter
    assert keys[-1] in limiter and keys[-10_000] in limiter


async def test_the_limited_app_still_serves_a_whole_complaint(
    tmp_path: Path, sqlite_url: str
) -> None:
    """The defaults let a person file a complaint at test speed (every answer at once)."""
    settings = Settings(
        environment="test",
        data_dir=tmp_path / "var",
        database_url=sqlite_url,
        nlu=NluSettings(manage=False),
    )
    answers = {
        "product": "蓝牙耳机",
        "brand": "索尼",
        "model_no": "WH-1000XM5",
        "platform": "京东",
        "merchant": "某某数码专营店",
        "merchant_address": "https://shop.example.com/123",
        "order_no": "/skip",
        "purchase_date": "昨天",
        "amount": "399",
        "problem": "耳机是假的，序列号查不到",
        "demand": "退款并赔偿",
        "claim_amount": "1197元",
        "photos": "/skip",
        "name": "张三",
        "phone": "13812345678",
        "address": "北京市朝阳区建国路1号",
        "id_type": "/skip",
        "consent_publish": "/yes",
        "consent_mediation": "/no",
        "confirm": "/confirm",
    }
    async with running_app(settings) as app, from_address(app, "10.0.0.9") as http:
        replies: list[dict[str, Any]] = (
            await http.post(WEBHOOK, json={"sender": "person", "message": "/complaint"})
        ).json()
        for _ in range(25):
            awaiting = replies[-1]["custom"].get("awaiting")
            if awaiting is None:
                break
            r = await http.post(WEBHOOK, json={"sender": "person", "message": answers[awaiting]})
            assert r.status_code == 200, r.text
            replies = r.json()
        assert any(r["custom"].get("case_no") for r in replies)


async def test_the_served_app_refuses_before_reading_a_chunked_body(
    tmp_path: Path, sqlite_url: str
) -> None:
    """``create_asgi`` puts the address limit in front of the body-size limit, which would
    otherwise buffer a body sent without Content-Length (up to 12 MB) before anyone looks."""
    from bot.app import create_asgi

    settings = Settings(
        environment="test",
        data_dir=tmp_path / "var",
        database_url=sqlite_url,
        nlu=NluSettings(manage=False),
        chat=ChatSettings(rate_limit_address_per_minute=1, rate_limit_address_burst=1),
    )
    served = create_asgi(settings)
    reads = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"x" * 65536, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    def scope(method: str) -> dict[str, Any]:
        return {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": WEBHOOK,
            "raw_path": WEBHOOK.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"weiquan.test"), (b"transfer-encoding", b"chunked")],
            "client": ("10.0.1.1", 40000),
            "server": ("weiquan.test", 80),
        }

    started = time.monotonic()
    await served(scope("GET"), receive, send)  # uses up the burst (405: wrong method)
    assert sent[0]["status"] == 405
    sent.clear()
    await served(scope("POST"), receive, send)
    assert sent[0]["status"] == 429 and reads == 0
    # The token comes back a minute after the GET took it: 60 s, less what has passed since
    # (seconds, under a loaded machine).
    waited = time.monotonic() - started
    retry = int(dict(sent[0]["headers"])[b"retry-after"])
    assert math.ceil(60 - waited) <= retry <= 60
