"""Response headers: the chat page's CSP, nosniff on evidence downloads, no API docs in
production."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.app import create_app
from bot.db.models import Case, Evidence
from bot.settings import NluSettings, SecuritySettings, Settings
from tests.bot.backoffice_helpers import (
    PASSWORD,
    Clock,
    client_for,
    make_staff,
    office_app,
    submit_case,
    token_for,
)
from tests.factories import png_bytes

pytestmark = pytest.mark.databases("sqlite")


def directives(header: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *values = part.split()
        found[name] = values
    return found


async def test_the_chat_page_has_a_strict_csp_and_no_inline_code(client: Any) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    csp = directives(page.headers["content-security-policy"])
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'"] and csp["style-src"] == ["'self'"]
    assert csp["connect-src"] == ["'self'"] and csp["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in page.headers["content-security-policy"]
    html = page.text
    # Nothing the policy would block: every script has a src, no style element or attribute,
    # no inline event handler.
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert "<style" not in html and " style=" not in html
    assert re.findall(r"\son[a-z]+=", html) == []
    assets = re.findall(r'(?:src|href)="(/[^"]+)"', html)
    assert "/static/chat.js" in assets and "/static/chat.css" in assets
    for asset in assets:
        if asset.endswith(".js") and asset.startswith("/console/"):
            continue  # the back office serves this one (the page works without it)
        r = await client.get(asset)
        assert r.status_code == 200, asset
        assert r.headers["x-content-type-options"] == "nosniff"
        kind = "javascript" if asset.endswith(".js") else "css"
        assert kind in r.headers["content-type"]
    # The page's own file under /static keeps the same policy.
    copy = await client.get("/static/chat.html")
    assert copy.headers["content-security-policy"] == page.headers["content-security-policy"]


async def test_every_response_says_nosniff(client: Any) -> None:
    for r in (
        await client.get("/healthz"),
        await client.post(
            "/webhooks/rest/webhook", content=b"{", headers={"content-type": "application/json"}
        ),
        await client.get("/no-such-page"),
    ):
        assert r.headers["x-content-type-options"] == "nosniff"


async def test_evidence_downloads_say_nosniff(settings: Settings) -> None:
    async with office_app(settings, clock=Clock()) as app, client_for(app) as client:
        await make_staff(app, "li", "agent")
        case_no = await submit_case(app)
        stored = await app.state.evidence.save_image(png_bytes(3), "x.png")
        async with app.state.sessions() as session, session.begin():
            case = (await session.execute(select(Case).where(Case.case_no == case_no))).scalar_one()
            session.add(
                Evidence(
                    sha256=stored.sha256,
                    conversation_id=case.conversation_id,
                    case_id=case.id,
                    content_type="image/png",
                    size=stored.size,
                    filename="x.png",
                    source="telegram",
                )
            )
        api = await client.get(
            f"/api/v1/cases/{case_no}/evidence/{stored.sha256}",
            headers=await token_for(client, "li"),
        )
        assert api.status_code == 200 and api.content == png_bytes(3)
        assert api.headers["x-content-type-options"] == "nosniff"
        login = await client.get("/console/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', login.text)
        assert csrf is not None
        signed_in = await client.post(
            "/console/login",
            data={"username": "li", "password": PASSWORD, "csrf": csrf.group(1)},
        )
        assert signed_in.status_code in (200, 303), signed_in.text
        console = await client.get(f"/console/cases/{case_no}/evidence/{stored.sha256}")
        assert console.status_code == 200 and console.content == png_bytes(3)
        assert console.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("environment", "status"), [("test", 200), ("development", 200), ("production", 404)]
)
async def test_api_docs_are_off_in_production(
    tmp_path: Path, environment: str, status: int
) -> None:
    settings = Settings(
        environment=environment,  # type: ignore[arg-type]
        data_dir=tmp_path,
        nlu=NluSettings(manage=False),
        security=SecuritySettings(
            secret_key="a-real-secret-for-this-test-0123456789", pii_key="k" * 43 + "="
        ),
    )
    app = create_app(settings, migrate=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://weiquan.test") as http:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert (await http.get(path)).status_code == status, path
        # The app itself still answers.
        assert (await http.get("/healthz")).status_code == 200
