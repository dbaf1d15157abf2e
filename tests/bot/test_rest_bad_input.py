"""Bad REST input gets a 4xx with a JSON error, and nothing is stored half-way."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from bot.db.models import Evidence, InboundMessage
from tests.factories import png_bytes

pytestmark = pytest.mark.databases("sqlite")


async def stored(app: Any) -> tuple[int, int]:
    async with app.state.sessions() as session:
        inbound = (
            await session.execute(select(func.count()).select_from(InboundMessage))
        ).scalar_one()
        evidence = (await session.execute(select(func.count()).select_from(Evidence))).scalar_one()
    return int(inbound), int(evidence)


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (b"not json", 400, "invalid_json"),
        (b'{"sender": "u"', 400, "invalid_json"),
        (b"[]", 422, "invalid_request"),
        (b'{"message": "hi"}', 422, "invalid_request"),
        (b'{"sender": "", "message": "hi"}', 422, "invalid_request"),
        (b'{"sender": "u", "message": 5}', 422, "invalid_request"),
        (b'{"sender": "u", "message": "hi", "extra": 1}', 422, "invalid_request"),
    ],
)
async def test_malformed_bodies(
    client: Any, app: Any, body: bytes, status: int, error: str
) -> None:
    response = await client.post(
        "/webhooks/rest/webhook", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == status
    assert response.json()["error"] == error
    assert response.json()["message"]
    assert await stored(app) == (0, 0)


async def test_text_over_limit(client: Any, app: Any) -> None:
    response = await client.post(
        "/webhooks/rest/webhook", json={"sender": "u", "message": "假" * 4001}
    )
    assert response.status_code == 422
    assert response.json()["error"] == "text_too_long"
    ok = await client.post("/webhooks/rest/webhook", json={"sender": "u", "message": "假" * 4000})
    assert ok.status_code == 200
    assert await stored(app) == (1, 0)


@pytest.mark.databases("sqlite", "postgres")
async def test_a_message_id_the_database_cannot_store(client: Any, app: Any) -> None:
    """A NUL in the message id: PostgreSQL cannot store it, so the client gets a 422 it can
    act on (not a 500 or a retryable 503), and the conversation goes on; SQLite stores it."""
    webhook = "/webhooks/rest/webhook"
    first = await client.post(webhook, json={"sender": "u", "message": "/complaint"})
    assert first.json()[-1]["custom"]["awaiting"] == "product"
    odd = {"sender": "u", "message": "蓝牙耳机", "message_id": "m\u00002"}
    response = await client.post(webhook, json=odd)
    if app.state.settings.is_sqlite:
        assert response.status_code == 200, response.text
        assert response.json()[-1]["custom"]["awaiting"] == "brand"
        return
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "unstorable_value"
    again = await client.post(webhook, json={**odd, "message_id": "m2"})
    assert again.json()[-1]["custom"]["awaiting"] == "brand"
    assert await stored(app) == (2, 0)


async def test_oversize_body_is_413(client: Any, app: Any) -> None:
    big = b"x" * (app.state.settings.chat.max_body_bytes + 1)
    response = await client.post(
        "/webhooks/rest/webhook", content=big, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"


async def test_upload_over_10_mb(client: Any, app: Any) -> None:
    data = png_bytes() + b"\0" * (10 * 1024 * 1024)
    response = await client.post(
        "/webhooks/rest/upload", data={"sender": "u"}, files={"file": ("a.png", data, "image/png")}
    )
    assert response.status_code == 413
    assert response.json()["error"] == "file_too_large"
    assert await stored(app) == (0, 0)


async def test_upload_checked_by_content_not_name(client: Any, app: Any) -> None:
    response = await client.post(
        "/webhooks/rest/upload",
        data={"sender": "u"},
        files={"file": ("photo.jpg", b"%PDF-1.4 not a picture at all", "image/jpeg")},
    )
    assert response.status_code == 415
    assert response.json()["error"] == "not_an_image"
    assert await stored(app) == (0, 0)
    assert not any(app.state.evidence.root.rglob("*")) if app.state.evidence.root.exists() else True


async def test_empty_upload(client: Any, app: Any) -> None:
    response = await client.post(
        "/webhooks/rest/upload", data={"sender": "u"}, files={"file": ("a.png", b"", "image/png")}
    )
    assert response.status_code == 422
    assert response.json()["error"] == "empty_file"


@pytest.mark.databases("sqlite", "postgres")
async def test_upload_outside_a_form_is_kept(client: Any, app: Any) -> None:
    response = await client.post(
        "/webhooks/rest/upload",
        data={"sender": "u", "message_id": "p1"},
        files={"file": ("evidence.bin", png_bytes(7), "application/octet-stream")},
    )
    assert response.status_code == 200
    assert "照片已收到" in response.json()[0]["text"]
    assert await stored(app) == (1, 1)


async def test_unknown_route_is_json_404(client: Any) -> None:
    response = await client.get("/webhooks/nowhere")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
