"""The audit log: each audited action leaves a row naming who, what, which case and from
where; supervisors and admins read it (API and console) by person and case; agents may not."""

from __future__ import annotations

import asyncio
import getpass
import re
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select, text
from typer.testing import CliRunner

from bot.cli.cases import app as cases_cli
from bot.cli.export import app as export_app
from bot.db.models import Case, Evidence
from bot.settings import Settings
from bot.staff.models import AuditEntry
from tests.bot.backoffice_helpers import (
    PASSWORD,
    Clock,
    client_for,
    make_staff,
    office_app,
    submit_case,
    token_for,
)
from tests.bot.test_api_console import csrf_of, login
from tests.factories import png_bytes


async def rows(app: FastAPI, **where: Any) -> list[AuditEntry]:
    """Audit rows, oldest first, whose columns equal ``where``."""
    stmt = select(AuditEntry).order_by(AuditEntry.id)
    for column, value in where.items():
        stmt = stmt.where(getattr(AuditEntry, column) == value)
    async with app.state.sessions() as session:
        return list((await session.execute(stmt)).scalars())


async def test_logins_tokens_and_account_changes_are_audited(settings: Settings) -> None:
    async with (
        office_app(settings) as app,
        client_for(app) as client,
        client_for(app) as console,
    ):
        await make_staff(app, "root", "admin")
        admin = await token_for(client, "root")
        made = await client.post(
            "/api/v1/staff",
            json={"username": "li", "password": PASSWORD, "role": "agent"},
            headers=admin,
        )
        assert made.status_code == 201
        [created] = await rows(app, action="account_created", target="staff:li")
        assert created.actor == "staff:root" and created.detail == {"role": "agent"}

        # Logins over the API: a failure names the username tried and the address.
        bad = await client.post("/api/v1/auth/token", json={"username": "li", "password": "nope"})
        assert bad.status_code == 401
        ghost = await client.post(
            "/api/v1/auth/token", json={"username": "nobody.here", "password": "nope"}
        )
        assert ghost.status_code == 401
        failed = await rows(app, action="login_failed")
        assert [(r.actor, r.target, r.detail["username"], r.ip) for r in failed] == [
            ("anonymous", "staff:li", "li", "127.0.0.1"),
            ("anonymous", "staff:nobody.here", "nobody.here", "127.0.0.1"),
        ]
        await token_for(client, "li")
        [ok] = await rows(app, action="login", actor="staff:li")
        assert ok.target == "staff:li" and ok.ip == "127.0.0.1"
        issued = await rows(app, action="token_issued", actor="staff:li")
        assert [r.detail["kind"] for r in issued] == ["api"]

        # And in the console, with the session's logout revoking its token.
        await console.get("/console/login")
        page = await console.get("/console/login")
        wrong = await console.post(
            "/console/login",
            data={"username": "li", "password": "wrong!", "csrf": csrf_of(page.text)},
        )
        assert wrong.status_code == 401
        assert len(await rows(app, action="login_failed", target="staff:li")) == 2
        signed_in, _ = await login(console, "li")
        assert signed_in.status_code == 303
        assert len(await rows(app, action="login", actor="staff:li")) == 2
        console_token = (await rows(app, action="token_issued", actor="staff:li"))[-1]
        assert console_token.detail["kind"] == "console"
        queue = await console.get("/console/queue")
        out = await console.post("/console/logout", data={"csrf": csrf_of(queue.text)})
        assert out.status_code == 303
        [logout] = await rows(app, action="token_revoked", actor="staff:li")
        assert logout.detail == {"token_ids": [console_token.detail["token_id"]], "why": "logout"}

        # Every account change, by whom and about whom.
        await client.post("/api/v1/staff/li/deactivate", headers=admin)
        await client.post("/api/v1/staff/li/reactivate", headers=admin)
        await client.post("/api/v1/staff/li/password", json={}, headers=admin)
        fresh = await client.post("/api/v1/auth/token", json={"username": "li", "password": "x"})
        assert fresh.status_code == 401
        changes = [
            (r.actor, r.action, r.target)
            for r in await rows(app, target="staff:li")
            if r.action.startswith(("account_", "password_"))
        ]
        assert changes == [
            ("staff:root", "account_created", "staff:li"),
            ("staff:root", "account_deactivated", "staff:li"),
            ("staff:root", "account_reactivated", "staff:li"),
            ("staff:root", "password_reset", "staff:li"),
        ]
        [reset] = await rows(app, action="password_reset")
        assert reset.detail["generated"] is True and reset.ip == "127.0.0.1"
        # The generated password never reaches the log.
        shown = (await client.post("/api/v1/staff/li/password", json={}, headers=admin)).json()[
            "password"
        ]
        assert all(shown not in str(r.detail) for r in await rows(app))
        li = await client.post("/api/v1/auth/token", json={"username": "li", "password": shown})
        own = {"Authorization": f"Bearer {li.json()['access_token']}"}
        changed = await client.post(
            "/api/v1/me/password",
            json={"current_password": shown, "new_password": "my own long password"},
            headers=own,
        )
        assert changed.status_code == 204
        [mine] = await rows(app, action="password_changed")
        assert (mine.actor, mine.target) == ("staff:li", "staff:li")
        revoked = await client.delete("/api/v1/staff/li/tokens", headers=own)
        assert revoked.status_code == 200
        last = (await rows(app, action="token_revoked"))[-1]
        assert last.actor == "staff:li" and last.detail["why"] == "revoked"


async def _case_with_evidence(app: FastAPI, kind: str = "complaint") -> tuple[str, str, int]:
    case_no = await submit_case(app, kind=kind, sender=f"e-{kind}")
    data = png_bytes(3)
    stored = await app.state.evidence.save_image(data, "shop.png")
    async with app.state.sessions() as session, session.begin():
        case = (await session.execute(select(Case).where(Case.case_no == case_no))).scalar_one()
        session.add(
            Evidence(
                sha256=stored.sha256,
                conversation_id=case.conversation_id,
                case_id=case.id,
                content_type="image/png",
                size=len(data),
                filename="shop.png",
                source="telegram",
            )
        )
        conversation_id = case.conversation_id
    return case_no, stored.sha256, conversation_id


@pytest.mark.databases("sqlite")
async def test_evidence_downloads_and_reveals_are_audited(settings: Settings) -> None:
    async with (
        office_app(settings, clock=Clock()) as app,
        client_for(app) as client,
        client_for(app) as console,
    ):
        await make_staff(app, "li", "agent")
        await make_staff(app, "zhang", "supervisor")
        case_no, sha, conversation_id = await _case_with_evidence(app)
        agent = await token_for(client, "li")
        got = await client.get(f"/api/v1/cases/{case_no}/evidence/{sha}", headers=agent)
        assert got.status_code == 200
        [api] = await rows(app, action="evidence_download")
        assert (api.actor, api.case_no, api.conversation_id) == (
            "staff:li",
            case_no,
            conversation_id,
        )
        assert api.detail["sha256"] == sha
        # A refused download (unknown file) leaves no row.
        missing = await client.get(f"/api/v1/cases/{case_no}/evidence/{'0' * 64}", headers=agent)
        assert missing.status_code == 404
        assert len(await rows(app, action="evidence_download")) == 1

        await login(console, "li")
        saved = await console.get(f"/console/cases/{case_no}/evidence/{sha}?download=1")
        assert saved.status_code == 200
        shown = await console.get(f"/console/cases/{case_no}/evidence/{sha}")
        assert shown.status_code == 200
        console_rows = (await rows(app, action="evidence_download"))[1:]
        assert [(r.actor, r.case_no, r.detail["inline"], r.ip) for r in console_rows] == [
            ("staff:li", case_no, False, "127.0.0.1"),
            ("staff:li", case_no, True, "127.0.0.1"),
        ]

        report_no = await submit_case(app, kind="report", sender="reporter-1")
        sup = await token_for(client, "zhang")
        r = await client.post(
            f"/api/v1/cases/{report_no}/reveal", json={"reason": "核实奖励申领人身份"}, headers=sup
        )
        assert r.status_code == 200
        [reveal] = await rows(app, action="reveal_reporter")
        assert (reveal.actor, reveal.case_no, reveal.reason) == (
            "staff:zhang",
            report_no,
            "核实奖励申领人身份",
        )
        assert reveal.conversation_id is not None


def test_cli_show_and_export_are_audited(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def setup() -> str:
        async with office_app(settings, clock=Clock()) as app:
            return await submit_case(app)

    case_no = asyncio.run(setup())
    monkeypatch.setenv("WEIQUAN_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("WEIQUAN_DATA_DIR", str(settings.data_dir))
    runner = CliRunner()
    shown = runner.invoke(cases_cli, ["show", case_no, "--json", "--as", "ops.zhao"])
    assert shown.exit_code == 0 and "13512345678" in shown.stdout
    plain = runner.invoke(cases_cli, ["show", case_no])
    assert plain.exit_code == 0 and "13512345678" in plain.stdout
    missing = runner.invoke(cases_cli, ["show", "TS20000101000001"])
    assert missing.exit_code == 1
    exported = runner.invoke(export_app, ["export", "--format", "json", "--kind", "complaint"])
    assert exported.exit_code == 0

    async def audit_rows() -> list[AuditEntry]:
        async with office_app(settings) as app:
            return [r for r in await rows(app) if r.action.startswith("cli_")]

    found = asyncio.run(audit_rows())
    assert [(r.actor, r.action, r.case_no) for r in found] == [
        ("cli:ops.zhao", "cli_case_show", case_no),
        (f"cli:{getpass.getuser()}", "cli_case_show", case_no),
        (f"cli:{getpass.getuser()}", "cli_cases_export", None),
    ]
    assert found[0].detail == {"fields": ["address", "name", "phone"]}
    assert found[2].detail == {"format": "json", "count": 1, "filters": {"kind": "complaint"}}


async def _many_rows(app: FastAPI) -> tuple[str, str]:
    """Two cases viewed by two agents: 3 views of the first, 2 of the second."""
    first = await submit_case(app, sender="a")
    second = await submit_case(app, sender="b")
    async with client_for(app) as client:
        li = await token_for(client, "li")
        wu = await token_for(client, "wu")
        for case_no, who in ((first, li), (first, wu), (second, li), (first, li), (second, wu)):
            assert (await client.get(f"/api/v1/cases/{case_no}", headers=who)).status_code == 200
    return first, second


async def test_audit_api_filters_pages_and_permissions(settings: Settings) -> None:
    async with office_app(settings, clock=Clock()) as app, client_for(app) as client:
        for name, role in (("li", "agent"), ("wu", "agent"), ("zhang", "supervisor")):
            await make_staff(app, name, role)
        await make_staff(app, "root", "admin")
        first, second = await _many_rows(app)
        sup = await token_for(client, "zhang")
        admin = await token_for(client, "root")
        agent = await token_for(client, "li")
        assert (await client.get("/api/v1/audit")).status_code == 401
        refused = await client.get("/api/v1/audit", headers=agent)
        assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
        assert (await client.get("/api/v1/audit", headers=admin)).status_code == 200

        everything = (await client.get("/api/v1/audit?limit=500", headers=sup)).json()["items"]
        ids = [r["id"] for r in everything]
        assert ids == sorted(ids, reverse=True) and len(ids) == len(await rows(app))

        by_case = (await client.get(f"/api/v1/audit?case_no={first}", headers=sup)).json()
        assert [(r["actor"], r["action"]) for r in by_case["items"]] == [
            ("staff:li", "view_personal"),
            ("staff:wu", "view_personal"),
            ("staff:li", "view_personal"),
        ]
        both = await client.get(f"/api/v1/audit?case_no={second}&actor=wu", headers=sup)
        assert [(r["actor"], r["case_no"]) for r in both.json()["items"]] == [("staff:wu", second)]
        # A person's rows: what they did and what was done to their account.
        li_rows = (await client.get("/api/v1/audit?actor=li&limit=500", headers=sup)).json()
        assert {r["action"] for r in li_rows["items"]} == {
            "account_created",
            "login",
            "token_issued",
            "view_personal",
        }
        assert all("staff:li" in (r["actor"], r["target"]) for r in li_rows["items"])

        # Pages of two, newest first, following next_before to the end.
        seen: list[int] = []
        url = f"/api/v1/audit?case_no={first}&limit=2"
        page = (await client.get(url, headers=sup)).json()
        seen += [r["id"] for r in page["items"]]
        assert page["next_before"] == seen[-1]
        page = (await client.get(f"{url}&before={page['next_before']}", headers=sup)).json()
        seen += [r["id"] for r in page["items"]]
        assert page["next_before"] is None and len(seen) == 3
        assert seen == sorted(seen, reverse=True)
        assert seen == [r["id"] for r in by_case["items"]]
        bad = await client.get("/api/v1/audit?limit=0", headers=sup)
        assert bad.status_code == 422 and bad.json()["error"] == "invalid_request"
        huge = await client.get(f"/api/v1/audit?before={2**64}", headers=sup)
        assert huge.status_code == 422


@pytest.mark.databases("sqlite")
async def test_audit_console_page(settings: Settings) -> None:
    async with (
        office_app(settings, clock=Clock()) as app,
        client_for(app) as sup,
        client_for(app) as agent,
    ):
        for name, role in (("li", "agent"), ("wu", "agent"), ("zhang", "supervisor")):
            await make_staff(app, name, role)
        first, second = await _many_rows(app)
        await login(agent, "li")
        assert (await agent.get("/console/audit")).status_code == 403
        await login(sup, "zhang")
        page = await sup.get("/console/audit")
        assert page.status_code == 200 and "审计日志" in page.text
        by_case = await sup.get(f"/console/audit?case_no={first}")
        ids = [int(i) for i in re.findall(r'<tr data-id="(\d+)"', by_case.text)]
        assert len(ids) == 3 and ids == sorted(ids, reverse=True)
        assert second not in by_case.text and by_case.text.count("查看个人信息") == 3
        by_person = await sup.get(f"/console/audit?actor=wu&case_no={second}")
        assert re.findall(r"<td>(staff:\w+)</td><td>查看个人信息", by_person.text) == ["staff:wu"]
        # Newest first, PAGE rows a page, an "older" link to the rest.
        from bot.console.accounts import PAGE

        async with app.state.sessions() as session, session.begin():
            for n in range(PAGE + 5):
                session.add(
                    AuditEntry(
                        actor="staff:li",
                        action="view_personal",
                        target=first,
                        case_no=first,
                        reason=f"bulk {n}",
                        detail={},
                        at=Clock()(),
                    )
                )
        full = await sup.get(f"/console/audit?case_no={first}")
        ids = [int(i) for i in re.findall(r'<tr data-id="(\d+)"', full.text)]
        assert len(ids) == PAGE and "bulk 54" in full.text
        older = re.search(r'id="older" href="([^"]+)"', full.text)
        assert older is not None
        rest = await sup.get(older.group(1).replace("&amp;", "&"))
        more = [int(i) for i in re.findall(r'<tr data-id="(\d+)"', rest.text)]
        assert len(more) == 8 and max(more) < min(ids)
        assert 'id="older"' not in rest.text
        # A page number no id can reach is the first page, not an error.
        assert (await sup.get(f"/console/audit?before={10**30}")).status_code == 200


@pytest.mark.postgres
async def test_migration_0009_keeps_rows_and_names_their_case(postgres_url: str) -> None:
    await _migration_keeps_rows(postgres_url)


async def test_migration_0009_on_sqlite(sqlite_url: str) -> None:
    await _migration_keeps_rows(sqlite_url)


async def _migration_keeps_rows(url: str) -> None:
    from alembic import command

    from bot.db.engine import make_engine
    from bot.db.migrate import alembic_config

    await asyncio.to_thread(command.downgrade, alembic_config(url), "0008")
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO audit_log (actor, action, target, reason, detail, at) VALUES "
                    "('staff:zhang', 'reveal_reporter', 'JB20261127000001', 'why', '{}', "
                    "CURRENT_TIMESTAMP)"
                )
            )
        await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
        async with engine.connect() as conn:
            found = (await conn.execute(text("SELECT actor, case_no, ip FROM audit_log"))).all()
        assert [tuple(r) for r in found] == [("staff:zhang", "JB20261127000001", "")]
    finally:
        await engine.dispose()


@pytest.mark.databases("sqlite")
async def test_audit_record_is_easy_to_call(settings: Settings) -> None:
    """The call other parts use: keyword arguments, a read-only session writes its own row."""
    from bot.db.engine import read_only
    from bot.staff import audit

    async with office_app(settings) as app:
        async with read_only(app.state.sessions)() as session, session.begin():
            await session.execute(select(AuditEntry.id))
            await audit.log(
                session,
                actor="staff:li",
                action="transcript_read",
                case_no="TS20261127000001",
                conversation_id=7,
                detail={"entries": 3},
            )
        [row] = await rows(app, action="transcript_read")
        assert (row.case_no, row.conversation_id, row.target) == (
            "TS20261127000001",
            7,
            "TS20261127000001",
        )
        async with app.state.sessions() as session, session.begin():
            audit.record(session, actor="staff:li", action="transcript_read", conversation_id=8)
        last = (await rows(app, action="transcript_read"))[-1]
        assert last.target == "conversation:8" and last.case_no is None
