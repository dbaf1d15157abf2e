"""Staff actions commit before they are answered, reads take no write lock, and two staff
acting on one case or one conversation at the same moment cannot both win."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.engine import make_url

from bot.db.models import Case, CaseEvent, Conversation, OutboxMessage
from bot.outbox import Key
from bot.settings import NluSettings, Settings
from bot.staff.models import AuditEntry
from tests.bot.backoffice_helpers import (
    Clock,
    client_for,
    make_staff,
    office_app,
    submit_case,
    token_for,
)
from tests.factories import chat_for, png_bytes
from tests.security.test_evidence_at_rest import file_complaint

ROUNDS = 12


async def at_response(
    app: FastAPI,
    method: str,
    path: str,
    headers: dict[str, str],
    body: dict[str, Any] | None,
    check: Callable[[], Awaitable[Any]],
) -> tuple[int, Any]:
    """Call the app as a server would and run ``check`` the moment the response body goes out
    (what a client could do next); returns the status and what ``check`` saw."""
    raw = json.dumps(body).encode() if body is not None else b""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        + [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())],
        "client": ("127.0.0.1", 40000),
        "server": ("weiquan.test", 80),
    }
    sent = False
    status, seen = 0, None

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        nonlocal status, seen
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body" and seen is None:
            seen = await check()

    await app(scope, receive, send)
    return status, seen


async def test_answers_go_out_after_their_commit(settings: Settings) -> None:
    """A reveal's audit row, a personal-data view's, and a transition exist as the answer leaves."""
    clock = Clock()
    async with office_app(settings, clock=clock) as app, client_for(app) as client:
        await make_staff(app, "boss", "supervisor")
        boss = await token_for(client, "boss")
        report = await submit_case(app, kind="report", at=clock.at)
        complaint = await submit_case(app, at=clock.at, sender="4343")

        async def audit_actions() -> list[str]:
            async with app.state.sessions() as session:
                stmt = select(AuditEntry.action).where(AuditEntry.case_no.in_([report, complaint]))
                return list((await session.execute(stmt)).scalars())

        async def status_of_complaint() -> str:
            async with app.state.sessions() as session:
                stmt = select(Case.status).where(Case.case_no == complaint)
                return str((await session.execute(stmt)).scalar_one())

        status, seen = await at_response(
            app,
            "POST",
            f"/api/v1/cases/{report}/reveal",
            boss,
            {"reason": "奖励发放需要核实身份"},
            audit_actions,
        )
        assert status == 200 and "reveal_reporter" in seen
        status, seen = await at_response(
            app, "GET", f"/api/v1/cases/{complaint}", boss, None, audit_actions
        )
        assert status == 200 and "view_personal" in seen
        status, seen = await at_response(
            app,
            "POST",
            f"/api/v1/cases/{complaint}/transitions",
            boss,
            {"to": "accepted"},
            status_of_complaint,
        )
        assert (status, seen) == (200, "accepted")


async def test_a_failed_commit_is_an_error_not_a_200(settings: Settings) -> None:
    """The consumer's notice cannot be stored (its key is taken): the transition must not be
    reported as done, and is not done."""
    clock = Clock()
    async with office_app(settings, clock=clock) as app, client_for(app) as client:
        await make_staff(app, "boss", "supervisor")
        boss = await token_for(client, "boss")
        case_no = await submit_case(app, at=clock.at)
        async with app.state.sessions() as session, session.begin():
            last = (await session.execute(select(func.max(CaseEvent.id)))).scalar() or 0
            case = (await session.execute(select(Case).where(Case.case_no == case_no))).scalar_one()
            topic = f"reply:{case.channel}"
            for event_id in range(last + 1, last + 50):
                session.add(
                    OutboxMessage(
                        topic=topic,
                        key=Key(case.sender_id, f"notice.{case_no}.{event_id}").spell(topic),
                        payload={},
                        created_at=clock.at,
                        next_attempt_at=clock.at,
                    )
                )
        r = await client.post(
            f"/api/v1/cases/{case_no}/transitions", json={"to": "accepted"}, headers=boss
        )
        assert r.status_code == 409 and r.json()["error"] == "conflict"
        detail = (await client.get(f"/api/v1/cases/{case_no}", headers=boss)).json()
        assert detail["status"] == "submitted"
        assert not [e for e in detail["events"] if e["kind"] == "transition"]


async def test_reads_answer_while_another_writer_holds_sqlite(sqlite_settings: Settings) -> None:
    """A long write (a big import, a slow turn) must not stall the queue and case lists."""
    clock = Clock()
    async with office_app(sqlite_settings, clock=clock) as app, client_for(app) as client:
        await make_staff(app, "li", "agent")
        li = await token_for(client, "li")
        await submit_case(app, at=clock.at)
        await chat_for(app, channel="telegram", sender="5151", now=clock.at).say("转人工")
        assert (await client.get("/api/v1/me", headers=li)).status_code == 200
        async with app.state.sessions() as writer, writer.begin():
            await writer.execute(update(Conversation).values(updated_at=clock.at))
            for path in ("/api/v1/queue", "/api/v1/cases", "/api/v1/dashboard?days=30"):
                r = await asyncio.wait_for(client.get(path, headers=li), timeout=3)
                assert r.status_code == 200, path


async def test_evidence_streams_without_the_sqlite_write_lock(sqlite_settings: Settings) -> None:
    """While a download's bytes go out, the consumer's next message can still be written."""
    async with office_app(sqlite_settings) as app, client_for(app) as client:
        case_no = await file_complaint(app, png_bytes(seed=3, size=16))
        await make_staff(app, "li", "agent")
        li = await token_for(client, "li")
        detail = (await client.get(f"/api/v1/cases/{case_no}", headers=li)).json()
        sha = detail["evidence"][0]["sha256"]
        database = make_url(sqlite_settings.resolved_database_url).database

        async def write_now() -> str:
            conn = sqlite3.connect(str(database), timeout=0, isolation_level=None)
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("UPDATE conversations SET updated_at = updated_at")
                conn.execute("COMMIT")
                return "written"
            except sqlite3.OperationalError as exc:
                return str(exc)
            finally:
                conn.close()

        status, seen = await at_response(
            app, "GET", f"/api/v1/cases/{case_no}/evidence/{sha}", li, None, write_now
        )
        assert (status, seen) == (200, "written")


@pytest.mark.postgres
async def test_two_staff_deciding_one_case_at_once(postgres_url: str, tmp_path: Any) -> None:
    settings = Settings(
        environment="test",
        data_dir=tmp_path / "var",
        database_url=postgres_url,
        nlu=NluSettings(manage=False),
    )
    clock = Clock()
    async with office_app(settings, clock=clock) as app, client_for(app) as client:
        await make_staff(app, "zhao", "supervisor")
        await make_staff(app, "qian", "supervisor")
        zhao, qian = await token_for(client, "zhao"), await token_for(client, "qian")
        for n in range(ROUNDS):
            case_no = await submit_case(app, at=clock.at, sender=f"70{n}")
            url = f"/api/v1/cases/{case_no}/transitions"
            accept, refuse = await asyncio.gather(
                client.post(url, json={"to": "accepted"}, headers=zhao),
                client.post(
                    url, json={"to": "not_accepted", "reason": "outside_duties"}, headers=qian
                ),
            )
            assert sorted([accept.status_code, refuse.status_code]) == [200, 409], n
            winner, loser = (accept, refuse) if accept.status_code == 200 else (refuse, accept)
            assert loser.json()["error"] == "invalid_transition" and loser.json()["message"]
            detail = (await client.get(f"/api/v1/cases/{case_no}", headers=zhao)).json()
            decisions = [e for e in detail["events"] if e["kind"] == "transition"]
            assert len(decisions) == 1 and detail["status"] == winner.json()["status"]
            async with app.state.sessions() as session:
                notices = await session.execute(
                    select(func.count()).where(OutboxMessage.key.like(f"%:notice.{case_no}.%"))
                )
                assert notices.scalar_one() == 1  # the consumer is told one decision


@pytest.mark.postgres
async def test_two_staff_claiming_one_conversation_at_once(
    postgres_url: str, tmp_path: Any
) -> None:
    settings = Settings(
        environment="test",
        data_dir=tmp_path / "var",
        database_url=postgres_url,
        nlu=NluSettings(manage=False),
    )
    clock = Clock()
    async with office_app(settings, clock=clock) as app, client_for(app) as client:
        await make_staff(app, "li", "agent")
        await make_staff(app, "wang", "agent")
        li, wang = await token_for(client, "li"), await token_for(client, "wang")
        for n in range(ROUNDS):
            await chat_for(app, channel="telegram", sender=f"80{n}", now=clock.at).say("转人工")
            queue = (await client.get("/api/v1/queue", headers=li)).json()
            [rid] = [t["id"] for t in queue if t["status"] == "queued"]
            url = f"/api/v1/queue/{rid}/claim"
            first, second = await asyncio.gather(
                client.post(url, headers=li), client.post(url, headers=wang)
            )
            assert sorted([first.status_code, second.status_code]) == [200, 409], n
            winner = "li" if first.status_code == 200 else "wang"
            loser = second if winner == "li" else first
            assert loser.json()["error"] == "not_queued" and loser.json()["message"]
            queue = (await client.get("/api/v1/queue", headers=li)).json()
            assert [t["taken_by"] for t in queue if t["id"] == rid] == [winner]
            async with app.state.sessions() as session:
                joined = await session.execute(
                    select(func.count()).where(OutboxMessage.key.like(f"%:handover.{rid}.joined.%"))
                )
                assert joined.scalar_one() == 1  # the consumer hears "staff joined" once
            close = await client.post(
                f"/api/v1/queue/{rid}/close", headers=li if winner == "li" else wang
            )
            assert close.status_code == 200
