"""Evidence transfer (证据移转): a forwarded case's package reaches the receiving office's own
hand-off URL, and that office fetches every file by its signed link and checks its SHA-256.

Both sides are real HTTP servers on this machine: the service under uvicorn, and a receiver
double standing for the other office's system."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn
import yaml
from fastapi import FastAPI
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from typer.testing import CliRunner

from bot import backoffice
from bot.business.offices import SAMPLE
from bot.cli import app as cli
from bot.db.models import Case, Evidence, OutboxMessage
from bot.settings import Settings
from bot.staff.models import AuditEntry
from integrations.credit.sample import code
from tests.bot.backoffice_helpers import (
    Clock,
    client_for,
    make_staff,
    office_app,
    submit_case,
    token_for,
)
from tests.e2e.conftest import free_port
from tests.factories import png_bytes

pytestmark = pytest.mark.databases("sqlite")
SECRET = "back-office-secret"  # WEIQUAN_BACKOFFICE_SECRET; the offices' own derive from it
SHENZHEN_SHOP = {
    "product": "充电宝",
    "platform": "淘宝",
    "amount": 89,
    "merchant": f"星河数码 {code('440305', 'MA0XMPL01')}",
}


class OfficeReceiver:
    """The receiving office: checks the delivery's signature with the secret it was given,
    fetches each file by its link and verifies it against the manifest. Fails its first
    delivery, to be retried."""

    def __init__(self, clock: Clock, secret: str) -> None:
        self.clock = clock
        self.secret = secret
        self.failures = 1
        self.packages: list[dict[str, Any]] = []
        self.verified: dict[str, bool] = {}
        self.signed: list[tuple[str, bytes]] = []  # (signature header, body) as received

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        header = request.headers.get(backoffice.SIGNATURE_HEADER, "")
        self.signed.append((header, body))
        if not backoffice.verify(self.secret, header, body, now=self.clock().timestamp()):
            return Response(status_code=401)
        if self.failures > 0:
            self.failures -= 1
            return Response("busy", status_code=503)
        package = json.loads(body)
        async with httpx.AsyncClient(timeout=10) as http:
            for item in package["evidence"]:
                got = await http.get(item["url"])
                self.verified[item["sha256"]] = (
                    got.status_code == 200
                    and hashlib.sha256(got.content).hexdigest() == item["sha256"]
                    and len(got.content) == item["size"]
                )
        self.packages.append(package)
        return Response(status_code=201)


@asynccontextmanager
async def served(app: Any, port: int) -> AsyncIterator[None]:
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", ws="none"
        )
    )
    task = asyncio.create_task(server.serve())
    for _ in range(500):  # uvicorn.Server exposes a flag, not an event
        if server.started:
            break
        await asyncio.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        await task


def directory_with_handoff(tmp_path: Path, url: str) -> Path:
    data = yaml.safe_load(SAMPLE.read_text(encoding="utf-8"))
    for office in data["offices"]:
        if office["key"] in ("hz-xihu", "sz-nanshan"):
            office["handoff_url"] = url
    path = tmp_path / "offices.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


async def add_evidence(app: FastAPI, case_no: str, seeds: list[int]) -> list[str]:
    hashes = []
    async with app.state.sessions() as session, session.begin():
        case = (await session.execute(select(Case).where(Case.case_no == case_no))).scalar_one()
        for seed in seeds:
            data = png_bytes(seed)
            stored = await app.state.evidence.save_image(data, f"photo-{seed}.png")
            session.add(
                Evidence(
                    sha256=stored.sha256,
                    conversation_id=case.conversation_id,
                    case_id=case.id,
                    content_type=stored.content_type,
                    size=stored.size,
                    filename=stored.filename,
                    source="telegram",
                )
            )
            hashes.append(stored.sha256)
    return hashes


def office_secret(office: str, directory: Path) -> str:
    """What the operator gives the office: ``weiquan offices secret``'s answer."""
    result = CliRunner().invoke(
        cli,
        ["offices", "secret", office, "--directory", str(directory)],
        env={"WEIQUAN_BACKOFFICE_SECRET": SECRET},
    )
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


@pytest.fixture
def ports() -> tuple[int, int]:
    return free_port(), free_port()


async def test_receiving_office_fetches_and_verifies_every_file(
    sqlite_settings: Settings, tmp_path: Path, ports: tuple[int, int]
) -> None:
    service_port, receiver_port = ports
    clock = Clock(datetime(2026, 11, 27, 2, 0, tzinfo=UTC))
    offices_file = directory_with_handoff(tmp_path, f"http://127.0.0.1:{receiver_port}/cases")
    receiver = OfficeReceiver(clock, office_secret("hz-xihu", offices_file))
    settings = sqlite_settings.model_copy(update={"offices_file": offices_file})
    receiving = Starlette(routes=[Route("/cases", receiver.handle, methods=["POST"])])
    async with (
        httpx.AsyncClient() as http,
        office_app(
            settings,
            clock=clock,
            http=http,
            secret=SECRET,
            public_url=f"http://127.0.0.1:{service_port}",
        ) as app,
        served(app, service_port),
        served(receiving, receiver_port),
    ):
        await make_staff(app, "boss", "supervisor")
        case_no = await submit_case(app, at=clock.at, fields=SHENZHEN_SHOP)
        other_no = await submit_case(app, at=clock.at, fields=SHENZHEN_SHOP, sender="99")
        files = await add_evidence(app, case_no, [1, 2])
        [other_file] = await add_evidence(app, other_no, [3])
        api = client_for(app)
        r = await api.post(
            f"/api/v1/cases/{case_no}/forward",
            json={"office": "hz-xihu", "reason": "seller_elsewhere", "note": "请核查"},
            headers=await token_for(api, "boss"),
        )
        assert r.status_code == 200, r.text
        for _ in range(2):  # the first delivery is refused (503), the retry is acknowledged
            while await app.state.outbox.run_once():
                pass
            clock.at += timedelta(minutes=5)

        [package] = receiver.packages
        assert package["event"] == "case.forwarded" and package["office"]["key"] == "hz-xihu"
        assert package["detail"]["reason"] == "seller_elsewhere"
        assert package["case"]["status"] == "forwarded" and package["case"]["case_no"] == case_no
        assert package["case"]["next_deadline"] == "2026-12-08"
        assert [item["sha256"] for item in package["evidence"]] == files
        assert receiver.verified == dict.fromkeys(files, True)
        async with app.state.sessions() as session:
            [row] = (
                await session.execute(select(OutboxMessage).where(OutboxMessage.topic == "office"))
            ).scalars()
            fetched = (
                await session.execute(
                    select(AuditEntry).where(AuditEntry.action == "evidence_transfer")
                )
            ).scalars()
            audited = {(a.actor, a.case_no, a.detail["sha256"]) for a in fetched}
        assert (row.status, row.attempts) == ("sent", 2)
        assert audited == {("office:hz-xihu", case_no, sha) for sha in files}
        # Signed with that office's own secret: neither the back office's secret nor another
        # office's checks it, so what one office holds cannot sign for the others.
        header, body = receiver.signed[-1]
        at = clock().timestamp()
        assert backoffice.verify(receiver.secret, header, body, now=at)
        assert not backoffice.verify(SECRET, header, body, now=at)
        assert not backoffice.verify(
            office_secret("sz-nanshan", offices_file), header, body, now=at
        )

        link = package["evidence"][0]["url"]
        parts = urlsplit(link)
        query = parse_qs(parts.query)
        async with httpx.AsyncClient(timeout=10) as outside:

            async def fetch(path: str, **changes: str) -> httpx.Response:
                params = {k: v[0] for k, v in query.items()} | changes
                return await outside.get(f"http://127.0.0.1:{service_port}{path}", params=params)

            assert (await fetch(parts.path)).status_code == 200
            sig = query["sig"][0]
            tampered = await fetch(parts.path, sig=("0" if sig[0] != "0" else "1") + sig[1:])
            assert (tampered.status_code, tampered.json()["error"]) == (403, "link_invalid")
            later = await fetch(parts.path, expires=str(int(query["expires"][0]) + 86400))
            assert later.status_code == 403
            # The same signature does not open another case's file, nor this file elsewhere.
            elsewhere = parts.path.replace(case_no, other_no)
            assert (await fetch(elsewhere)).status_code == 403
            assert (await fetch(parts.path.replace(files[0], other_file))).status_code == 403
            assert (await fetch(parts.path, office="sz-nanshan")).status_code == 403
            assert (await fetch("/api/v1/transfers/x/evidence/y")).status_code == 403

            clock.at += timedelta(hours=73)  # past the 72-hour default
            expired = await fetch(parts.path)
            assert (expired.status_code, expired.json()["error"]) == (410, "link_expired")


async def test_an_office_without_a_handoff_url_gets_no_package(sqlite_settings: Settings) -> None:
    clock = Clock(datetime(2026, 11, 27, 2, 0, tzinfo=UTC))
    async with office_app(sqlite_settings, clock=clock) as app:
        await make_staff(app, "boss", "supervisor")
        case_no = await submit_case(app, at=clock.at, fields=SHENZHEN_SHOP)
        api = client_for(app)
        r = await api.post(
            f"/api/v1/cases/{case_no}/forward",
            json={"office": "cd-wuhou", "reason": "seller_elsewhere"},
            headers=await token_for(api, "boss"),
        )
        assert r.status_code == 200, r.text
        async with app.state.sessions() as session:
            topics = set((await session.execute(select(OutboxMessage.topic))).scalars())
        # The consumer's notice only: that office works the case in this console.
        assert "office" not in topics and "reply:telegram" in topics
