"""Hand-off to an external back office: signed, idempotent, retried until acknowledged."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from bot import backoffice
from bot.db.models import OutboxMessage
from bot.settings import Settings
from tests.bot.backoffice_helpers import (
    Clock,
    client_for,
    make_staff,
    office_app,
    submit_case,
    token_for,
)

SECRET = "receiver-shared-secret"


class Receiver:
    """A back office that fails ``failures`` times, then accepts each key exactly once."""

    def __init__(self, failures: int, clock: Clock) -> None:
        self.failures = failures
        self.clock = clock  # the sender's clock: signatures are checked for their age
        self.calls: list[str] = []
        self.accepted: dict[str, dict[str, Any]] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        key = request.headers["Idempotency-Key"]
        self.calls.append(key)
        if not backoffice.verify(
            SECRET,
            request.headers[backoffice.SIGNATURE_HEADER],
            request.content,
            now=self.clock().timestamp(),
        ):
            return httpx.Response(401)
        if self.failures > 0:
            self.failures -= 1
            return httpx.Response(503, text="maintenance")
        if key in self.accepted:
            return httpx.Response(409, json={"duplicate": key})
        self.accepted[key] = json.loads(request.content)
        return httpx.Response(201)


async def test_retries_until_acknowledged_exactly_once(settings: Settings) -> None:
    clock = Clock()
    receiver = Receiver(failures=2, clock=clock)
    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(receiver)) as http,
        office_app(
            settings,
            clock=clock,
            http=http,
            url="https://office.example/cases",
            secret=SECRET,
        ) as app,
        client_for(app) as client,
    ):
        await make_staff(app, "sup", "supervisor")
        h = await token_for(client, "sup")
        case_no = await submit_case(app, at=clock.at)
        r = await client.post(
            f"/api/v1/cases/{case_no}/transitions", json={"to": "accepted"}, headers=h
        )
        assert r.status_code == 200
        for _ in range(3):
            while await app.state.outbox.run_once():  # every due row, a user's in order
                pass
            failing = (await client.get("/api/v1/backoffice/deliveries", headers=h)).json()
            clock.at += timedelta(hours=2)  # past any backoff
        assert all(d["status"] == "sent" for d in failing)
        async with app.state.sessions() as session:
            rows = list(
                (
                    await session.execute(
                        select(OutboxMessage).where(OutboxMessage.topic == "backoffice")
                    )
                ).scalars()
            )
            # A redelivery after a lost acknowledgement is answered 409 and counts as done.
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.topic == "backoffice")
                .values(status="pending")
            )
            await session.commit()
        # The submitted case and its status change; two failures, then one success each.
        assert len(rows) == 2 and sum(r.attempts for r in rows) == 4
        while await app.state.outbox.run_once():  # every due row, a user's in order
            pass
        keys = set(receiver.calls)
        assert len(receiver.accepted) == len(keys) == len(rows)
        submitted = receiver.accepted[f"{case_no}:{rows[0].payload['event_id']}"]
        assert submitted["event"] == "case.submitted" and submitted["case"]["personal"]["phone"]
        accepted = receiver.accepted[f"{case_no}:{rows[-1].payload['event_id']}"]
        assert accepted["schema"] == "weiquan.case-event/1"
        assert accepted["event"] == "case.status_changed"
        assert accepted["detail"]["to"] == "accepted" and accepted["case"]["status"] == "accepted"


async def test_failures_are_visible(settings: Settings) -> None:
    clock = Clock()
    receiver = Receiver(failures=100, clock=clock)
    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(receiver)) as http,
        office_app(
            settings,
            clock=clock,
            http=http,
            url="https://office.example/cases",
            secret=SECRET,
            cookie_secure=False,
        ) as app,
        client_for(app) as client,
    ):
        await make_staff(app, "sup", "supervisor")
        h = await token_for(client, "sup")
        case_no = await submit_case(app, at=clock.at)
        await client.post(
            f"/api/v1/cases/{case_no}/transitions", json={"to": "accepted"}, headers=h
        )
        while await app.state.outbox.run_once():  # every due row, a user's in order
            pass
        shown = (await client.get("/api/v1/backoffice/deliveries", headers=h)).json()
        assert any(
            d["status"] == "pending" and "HTTP 503" in (d["last_error"] or "") for d in shown
        )


@pytest.mark.databases("sqlite")
async def test_no_handoff_rows_without_url(settings: Settings) -> None:
    async with office_app(settings, clock=Clock()) as app, client_for(app) as client:
        await make_staff(app, "sup", "supervisor")
        h = await token_for(client, "sup")
        case_no = await submit_case(app)
        await client.post(
            f"/api/v1/cases/{case_no}/transitions", json={"to": "accepted"}, headers=h
        )
        async with app.state.sessions() as session:
            count = (
                await session.execute(
                    select(OutboxMessage).where(OutboxMessage.topic == "backoffice")
                )
            ).all()
        assert count == []


def test_export_formats_and_filters(settings: Settings, tmp_path: Path, monkeypatch: Any) -> None:
    import asyncio

    from openpyxl import load_workbook

    from bot.cli.export import app as export_app

    async def setup() -> tuple[str, str]:
        async with office_app(settings, clock=Clock()) as app:
            return await submit_case(app), await submit_case(app, kind="report", sender="99")

    ts, jb = asyncio.run(setup())
    monkeypatch.setenv("WEIQUAN_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("WEIQUAN_DATA_DIR", str(settings.data_dir))
    runner = CliRunner()
    out = runner.invoke(export_app, ["export", "--format", "json", "--kind", "report"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert [c["case_no"] for c in data] == [jb] and "personal" not in data[0]
    csv_out = runner.invoke(export_app, ["export", "--format", "csv", "--platform", "拼多多"])
    assert ts in csv_out.stdout and jb not in csv_out.stdout and "13512345678" not in csv_out.stdout
    target = tmp_path / "cases.xlsx"
    xl = runner.invoke(
        export_app, ["export", "--format", "xlsx", "-o", str(target), "--from", "2026-09-29"]
    )
    assert xl.exit_code == 0, xl.output
    sheet = load_workbook(target).active
    assert sheet is not None and sheet.max_row == 3
    bad = runner.invoke(export_app, ["export", "--format", "pdf"])
    assert bad.exit_code == 2


async def test_handoff_to_a_real_local_receiver(settings: Settings) -> None:
    """The same, over real HTTP: a uvicorn receiver that fails once, then acknowledges."""
    import asyncio

    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from tests.e2e.conftest import free_port

    clock = Clock()
    receiver = Receiver(failures=1, clock=clock)

    async def endpoint(request: Request) -> Response:
        answer = receiver(
            httpx.Request(
                "POST", str(request.url), headers=request.headers, content=await request.body()
            )
        )
        return Response(status_code=answer.status_code)

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            Starlette(routes=[Route("/hook", endpoint, methods=["POST"])]),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            ws="none",
        )
    )
    serving = asyncio.create_task(server.serve())
    for _ in range(500):  # uvicorn.Server exposes a flag, not an event
        if server.started:
            break
        await asyncio.sleep(0.02)
    try:
        async with office_app(
            settings,
            clock=clock,
            url=f"http://127.0.0.1:{port}/hook",
            secret=SECRET,
        ) as app:
            case_no = await submit_case(app, at=clock.at)
            for _ in range(2):
                while await app.state.outbox.run_once():  # every due row, a user's in order
                    pass
                clock.at += timedelta(hours=1)
            async with app.state.sessions() as session:
                [row] = (
                    await session.execute(
                        select(OutboxMessage).where(OutboxMessage.topic == "backoffice")
                    )
                ).scalars()
    finally:
        server.should_exit = True
        await serving
    assert (row.status, row.attempts) == ("sent", 2)
    assert list(receiver.accepted) == [f"{case_no}:{row.payload['event_id']}"]
