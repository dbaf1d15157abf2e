"""Hostile and malformed input to the staff API: clear 4xx answers, never a stack trace."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import update

from bot.db.models import Case, Evidence
from bot.settings import Settings
from tests.bot.backoffice_helpers import (
    Clock,
    client_for,
    make_staff,
    office_app,
    submit_case,
    token_for,
)
from tests.factories import png_bytes


@pytest.mark.databases("sqlite")
async def test_validation_and_not_found(settings: Settings) -> None:
    async with office_app(settings, clock=Clock()) as app, client_for(app) as client:
        await make_staff(app, "sup", "supervisor")
        h = await token_for(client, "sup")
        case_no = await submit_case(app)
        cases = [
            (
                "POST",
                "/api/v1/auth/token",
                {"content": b"{not json", "headers": {"content-type": "application/json"}},
                400,
            ),
            (
                "POST",
                "/api/v1/auth/token",
                {"json": {"username": "x", "password": "y", "extra": 1}},
                422,
            ),
            ("GET", "/api/v1/cases?limit=0", {}, 422),
            ("GET", "/api/v1/cases?kind=everything", {}, 422),
            ("GET", "/api/v1/cases?date_from=2026-12-01&date_to=2026-11-01", {}, 422),
            ("GET", "/api/v1/cases?date_from=yesterday", {}, 422),
            ("GET", "/api/v1/cases/TS20990101000001", {}, 404),
            ("GET", "/api/v1/cases/'; drop table cases;--", {}, 422),
            (
                "POST",
                f"/api/v1/cases/{case_no}/transitions",
                {"json": {"to": "accepted", "sneaky": True}},
                422,
            ),
            (
                "POST",
                f"/api/v1/cases/{case_no}/transitions",
                {"json": {"to": "accepted", "note": "x" * 3000}},
                422,
            ),
            ("POST", f"/api/v1/cases/{case_no}/actions", {"json": {"action": "delete"}}, 422),
            ("GET", f"/api/v1/cases/{case_no}/evidence/not-a-hash", {}, 422),
            ("GET", f"/api/v1/cases/{case_no}/evidence/{'a' * 64}", {}, 404),
            ("POST", "/api/v1/queue/abc/claim", {}, 422),
            ("POST", "/api/v1/queue/1/reply", {"json": {"text": "x" * 5000}}, 422),
            ("POST", "/api/v1/queue/1/transfer", {"json": {"to": "Not Valid"}}, 422),
        ]
        for method, path, kwargs, expected in cases:
            extra = kwargs.pop("headers", {})
            r = await client.request(method, path, headers={**h, **extra}, **kwargs)
            assert r.status_code == expected, (path, r.status_code, r.text)
            body = r.json()
            assert "error" in body and "Traceback" not in r.text
            if expected == 422 and body["error"] == "invalid_request" and "detail" in body:
                assert body["detail"][0]["msg"]


@pytest.mark.databases("sqlite")
async def test_evidence_download_for_staff_only(settings: Settings) -> None:
    async with office_app(settings, clock=Clock()) as app, client_for(app) as client:
        await make_staff(app, "li", "agent")
        await make_staff(app, "root", "admin")
        case_no = await submit_case(app)
        data = png_bytes(7)
        stored = await app.state.evidence.save_image(data, "fake.png")
        async with app.state.sessions() as session, session.begin():
            case = (
                await session.execute(Case.__table__.select().where(Case.case_no == case_no))
            ).first()
            assert case is not None
            session.add(
                Evidence(
                    sha256=stored.sha256,
                    conversation_id=case.conversation_id,
                    case_id=case.id,
                    content_type="image/png",
                    size=len(data),
                    filename="fake.png",
                    source="telegram",
                )
            )
            await session.execute(update(Case).where(Case.id == case.id).values(platform="拼多多"))
        url = f"/api/v1/cases/{case_no}/evidence/{stored.sha256}"
        r = await client.get(url, headers=await token_for(client, "li"))
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        assert (
            hashlib.sha256(r.content).hexdigest() == r.headers["x-content-sha256"] == stored.sha256
        )
        assert (await client.get(url)).status_code == 401
        assert (await client.get(url, headers=await token_for(client, "root"))).status_code == 403
        detail = (
            await client.get(f"/api/v1/cases/{case_no}", headers=await token_for(client, "li"))
        ).json()
        assert detail["evidence"][0]["sha256"] == stored.sha256


@pytest.mark.databases("sqlite")
async def test_openapi_documents_the_staff_api(settings: Settings) -> None:
    async with office_app(settings) as app, client_for(app) as client:
        paths = (await client.get("/openapi.json")).json()["paths"]
    for path in (
        "/api/v1/auth/token",
        "/api/v1/cases",
        "/api/v1/cases/{case_no}/transitions",
        "/api/v1/queue",
    ):
        assert path in paths
    assert not any(p.startswith("/console") for p in paths)


async def test_row_ids_beyond_what_a_database_holds_are_refused(settings: Settings) -> None:
    """Found by the schema fuzzer: a 30-digit hand-over id was a 500 on SQLite, 503 on PostgreSQL."""
    async with office_app(settings, clock=Clock()) as app, client_for(app) as client:
        await make_staff(app, "li", "agent")
        h = await token_for(client, "li")
        huge = "68469653332143329881075220480"
        for method, url, body in [
            ("POST", f"/api/v1/queue/{huge}/claim", None),
            ("POST", f"/api/v1/queue/{huge}/reply", {"text": "您好"}),
            ("POST", f"/api/v1/queue/{huge}/transfer", {"to": "wang"}),
            ("POST", f"/api/v1/queue/{huge}/close", None),
            ("GET", f"/api/v1/queue/{huge}/messages", None),
            ("GET", f"/api/v1/queue/1/messages?after={huge}", None),
            ("GET", f"/webhooks/rest/pushes?sender=x&after={huge}", None),
        ]:
            r = await client.request(method, url, headers=h, json=body)
            assert r.status_code == 422, (url, r.status_code, r.text)
            assert r.json()["error"] == "invalid_request"


async def test_text_a_database_cannot_store_is_a_422(settings: Settings) -> None:
    """Found by the schema fuzzer: a NUL in a reveal's reason was a 503 on PostgreSQL."""
    async with office_app(settings, clock=Clock()) as app, client_for(app) as client:
        await make_staff(app, "sup", "supervisor")
        h = await token_for(client, "sup")
        case_no = await submit_case(app)
        r = await client.post(
            f"/api/v1/cases/{case_no}/reveal", headers=h, json={"reason": "核实身份\u0000以便联系"}
        )
        if settings.is_sqlite:  # SQLite stores the NUL as it is
            assert r.status_code == 200, r.text
        else:
            assert r.status_code == 422, r.text
            assert r.json()["error"] == "unstorable_value"
        again = await client.post(
            f"/api/v1/cases/{case_no}/reveal", headers=h, json={"reason": "核实身份以便联系"}
        )
        assert again.status_code == 200, again.text


async def test_a_database_that_went_away_is_a_retryable_503() -> None:
    """A restart of the database mid-request: 503 with Retry-After (the client sends the
    message again with the same id), not a 500, and the body is JSON like every error."""
    import httpx
    from fastapi import FastAPI
    from sqlalchemy.exc import OperationalError

    from bot.web import errors

    class ShuttingDown(Exception):
        sqlstate = "57P01"  # admin_shutdown, as the driver reports it

    app = FastAPI()
    errors.install(app)

    @app.get("/refused")
    async def refused() -> None:
        raise ConnectionRefusedError(111, "Connect call failed")

    @app.get("/shutdown")
    async def shutdown() -> None:
        raise OperationalError("SELECT 1", {}, ShuttingDown())

    @app.get("/bug")
    async def bug() -> None:
        raise RuntimeError("a bug")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for path in ("/refused", "/shutdown"):
            response = await client.get(path)
            assert response.status_code == 503, path
            assert response.headers["retry-after"] == "1"
            assert response.json()["error"] == "temporarily_unavailable"
        bug_response = await client.get("/bug")
        assert bug_response.status_code == 500
        assert bug_response.json()["error"] == "internal_error"
