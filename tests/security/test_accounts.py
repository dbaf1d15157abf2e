"""Account lifecycle through the real API, console and CLI: a deactivated or reset account's
tokens and sessions die on the next request; people manage only themselves, admins everyone."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from bot.cli.staff import app as staff_cli
from bot.settings import Settings
from tests.bot.backoffice_helpers import (
    PASSWORD,
    Clock,
    client_for,
    make_staff,
    office_app,
    token_for,
)
from tests.bot.test_api_console import csrf_of, login

NEW_PASSWORD = "another long passphrase"


async def _status(client: httpx.AsyncClient, headers: dict[str, str]) -> int:
    return (await client.get("/api/v1/me", headers=headers)).status_code


async def _login_status(client: httpx.AsyncClient, username: str, password: str) -> int:
    r = await client.post("/api/v1/auth/token", json={"username": username, "password": password})
    return r.status_code


async def test_deactivation_kills_tokens_and_console_sessions_at_once(settings: Settings) -> None:
    async with (
        office_app(settings) as app,
        client_for(app) as client,
        client_for(app) as console,
    ):
        await make_staff(app, "root", "admin")
        await make_staff(app, "li", "agent")
        admin = await token_for(client, "root")
        agent = await token_for(client, "li")
        signed_in, _ = await login(console, "li")
        assert signed_in.status_code == 303
        assert (await console.get("/console/queue")).status_code == 200
        r = await client.post("/api/v1/staff/li/deactivate", headers=admin)
        assert r.status_code == 200 and r.json()["active"] is False
        # The very next request with the old token or cookie is refused.
        assert await _status(client, agent) == 401
        page = await console.get("/console/queue")
        assert page.status_code == 303 and page.headers["location"] == "/console/login"
        assert (await console.get("/console/queue/1/messages")).status_code == 401
        assert await _login_status(client, "li", PASSWORD) == 401
        back = await client.post("/api/v1/staff/li/reactivate", headers=admin)
        assert back.status_code == 200 and back.json()["active"] is True
        # Reactivation lets the person sign in again; the old token stays dead.
        assert await _status(client, agent) == 401
        assert await _status(client, await token_for(client, "li")) == 200
        # An admin cannot lock themselves out.
        own = await client.post("/api/v1/staff/root/deactivate", headers=admin)
        assert own.status_code == 403 and own.json()["error"] == "forbidden"
        assert (
            await client.post("/api/v1/staff/ghost/deactivate", headers=admin)
        ).status_code == 404


@pytest.mark.databases("sqlite")
async def test_only_admins_manage_other_accounts(settings: Settings) -> None:
    async with office_app(settings) as app, client_for(app) as client:
        for name, role in (("root", "admin"), ("wang", "supervisor"), ("li", "agent")):
            await make_staff(app, name, role)
        sup = await token_for(client, "wang")
        agent = await token_for(client, "li")
        for headers in (sup, agent):
            for method, path, body in (
                ("POST", "/api/v1/staff/root/deactivate", None),
                ("POST", "/api/v1/staff/li/reactivate", None),
                ("POST", "/api/v1/staff/li/password", {}),
            ):
                r = await client.request(method, path, json=body, headers=headers)
                assert r.status_code == 403, (path, r.text)
        # Someone else's tokens and account: refused; one's own: allowed.
        assert (await client.get("/api/v1/staff/wang/tokens", headers=agent)).status_code == 403
        assert (await client.delete("/api/v1/staff/wang/tokens", headers=agent)).status_code == 403
        assert (await client.get("/api/v1/staff/wang", headers=agent)).status_code == 403
        assert (await client.get("/api/v1/staff/li/tokens", headers=agent)).status_code == 200
        assert (await client.get("/api/v1/staff/li", headers=agent)).json()["role"] == "agent"
        assert await _status(client, sup) == 200
        assert (await client.post("/api/v1/staff/li/deactivate")).status_code == 401
        assert (await client.get("/api/v1/staff/li/tokens")).status_code == 401
        assert (await client.delete("/api/v1/staff/li/tokens")).status_code == 401


@pytest.mark.databases("sqlite")
async def test_change_own_password(settings: Settings) -> None:
    async with office_app(settings) as app, client_for(app) as client:
        await make_staff(app, "li", "agent")
        here = await token_for(client, "li")
        elsewhere = await token_for(client, "li")
        wrong = await client.post(
            "/api/v1/me/password",
            json={"current_password": "not my password", "new_password": NEW_PASSWORD},
            headers=here,
        )
        assert wrong.status_code == 403 and wrong.json()["error"] == "wrong_password"
        weak = await client.post(
            "/api/v1/me/password",
            json={"current_password": PASSWORD, "new_password": "short"},
            headers=here,
        )
        assert weak.status_code == 422 and "at least 10" in weak.json()["message"]
        assert await _status(client, elsewhere) == 200
        ok = await client.post(
            "/api/v1/me/password",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers=here,
        )
        assert ok.status_code == 204
        assert await _status(client, here) == 200
        assert await _status(client, elsewhere) == 401
        assert await _login_status(client, "li", PASSWORD) == 401
        assert await _login_status(client, "li", NEW_PASSWORD) == 200


@pytest.mark.databases("sqlite")
async def test_admin_reset_generated_once_or_chosen(settings: Settings) -> None:
    async with office_app(settings) as app, client_for(app) as client:
        await make_staff(app, "root", "admin")
        await make_staff(app, "li", "agent")
        admin = await token_for(client, "root")
        agent = await token_for(client, "li")
        r = await client.post("/api/v1/staff/li/password", json={}, headers=admin)
        assert r.status_code == 200
        body = r.json()
        generated = body["password"]
        assert len(generated) >= 16 and body["tokens_revoked"] == 1
        assert await _status(client, agent) == 401
        assert await _login_status(client, "li", PASSWORD) == 401
        assert await _login_status(client, "li", generated) == 200
        chosen = await client.post(
            "/api/v1/staff/li/password", json={"password": NEW_PASSWORD}, headers=admin
        )
        assert chosen.status_code == 200 and chosen.json()["password"] is None
        assert await _login_status(client, "li", NEW_PASSWORD) == 200
        weak = await client.post("/api/v1/staff/li/password", json={"password": "x"}, headers=admin)
        assert weak.status_code == 422
        assert await _login_status(client, "li", NEW_PASSWORD) == 200


async def test_list_and_revoke_tokens(settings: Settings) -> None:
    clock = Clock()
    async with office_app(settings, clock=clock) as app, client_for(app) as client:
        await make_staff(app, "root", "admin")
        await make_staff(app, "li", "agent")
        first = await token_for(client, "li")
        clock.at += timedelta(minutes=5)
        second = await token_for(client, "li")
        clock.at += timedelta(minutes=5)
        assert await _status(client, second) == 200
        # Uses within a minute are not written again: the listing shows the use at 02:10.
        clock.at += timedelta(seconds=30)
        listed = await client.get("/api/v1/staff/li/tokens", headers=second)
        assert listed.status_code == 200
        rows = listed.json()
        assert [r["current"] for r in rows] == [True, False]
        secrets = {first["Authorization"].split()[1], second["Authorization"].split()[1]}
        assert not any(s in listed.text for s in secrets)
        assert set(rows[0]) == {"id", "kind", "issued_at", "last_used_at", "expires_at", "current"}
        # Issued and last used: the first token was never used; the second just now.
        assert rows[1]["issued_at"].startswith("2026-11-27T02:00")
        assert rows[1]["last_used_at"] is None
        assert rows[0]["last_used_at"].startswith("2026-11-27T02:10")
        unknown = await client.delete("/api/v1/staff/li/tokens/999999", headers=second)
        assert unknown.status_code == 404
        huge = await client.delete(f"/api/v1/staff/li/tokens/{2**64}", headers=second)
        assert huge.status_code == 422 and huge.json()["error"] == "invalid_request"
        one = await client.delete(f"/api/v1/staff/li/tokens/{rows[1]['id']}", headers=second)
        assert one.status_code == 200 and one.json() == {"revoked": [rows[1]["id"]]}
        assert await _status(client, first) == 401 and await _status(client, second) == 200
        admin = await token_for(client, "root")
        third = await token_for(client, "li")
        every = await client.delete("/api/v1/staff/li/tokens", headers=admin)
        assert every.status_code == 200 and len(every.json()["revoked"]) == 2
        assert await _status(client, second) == 401 and await _status(client, third) == 401
        assert await _status(client, admin) == 200


@pytest.mark.databases("sqlite")
async def test_console_account_pages(settings: Settings) -> None:
    async with (
        office_app(settings) as app,
        client_for(app) as root,
        client_for(app) as li,
        client_for(app) as other,
    ):
        await make_staff(app, "root", "admin")
        await make_staff(app, "li", "agent")
        await login(root, "root")
        await login(li, "li")
        await login(other, "li")
        # One's own page: sessions listed (this one marked), no secret, a password change.
        mine = await li.get("/console/account")
        assert mine.status_code == 200 and mine.text.count("控制台会话") == 2
        assert "（当前）" in mine.text and li.cookies["weiquan_console"] not in mine.text
        form = {"csrf": csrf_of(mine.text), "current": "wrong one!!", "new": NEW_PASSWORD}
        bad = await li.post("/console/account/password", data={**form, "confirm": NEW_PASSWORD})
        assert bad.status_code == 403 and "当前密码不正确" in bad.text
        form["current"] = PASSWORD
        forged = await li.post(
            "/console/account/password", data={**form, "confirm": NEW_PASSWORD, "csrf": "x"}
        )
        assert forged.status_code == 403
        ok = await li.post("/console/account/password", data={**form, "confirm": NEW_PASSWORD})
        assert ok.status_code == 200 and "密码已修改" in ok.text
        assert (await li.get("/console/queue")).status_code == 200
        assert (await other.get("/console/queue")).status_code == 303
        # An agent may not open someone's account page or end their sessions.
        assert (await li.get("/console/staff/root")).status_code == 403
        refused = await li.post(
            "/console/staff/root/tokens/revoke", data={"csrf": csrf_of(ok.text)}
        )
        assert refused.status_code == 403
        # The admin: deactivate (the agent's session ends at once), reset, reactivate.
        page = await root.get("/console/staff/li")
        assert page.status_code == 200 and "停用账号" in page.text
        csrf = csrf_of(page.text)
        assert (
            await root.post("/console/staff/li/deactivate", data={"csrf": "x"})
        ).status_code == 403
        assert (await li.get("/console/queue")).status_code == 200
        off = await root.post("/console/staff/li/deactivate", data={"csrf": csrf})
        assert off.status_code == 303
        assert (await li.get("/console/queue")).status_code == 303
        reset = await root.post("/console/staff/li/password", data={"csrf": csrf})
        assert reset.status_code == 200 and "只显示这一次" in reset.text
        shown = reset.text.split('id="new-password"')[1].split("<code>")[1].split("</code>")[0]
        assert reset.headers["cache-control"] == "no-store"
        again = await root.get("/console/staff/li")
        assert shown not in again.text
        assert (
            await root.post("/console/staff/li/reactivate", data={"csrf": csrf})
        ).status_code == 303
        async with client_for(app) as api:
            assert await _login_status(api, "li", shown) == 200
            assert await _login_status(api, "li", NEW_PASSWORD) == 401


def _cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("WEIQUAN_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("WEIQUAN_DATA_DIR", str(settings.data_dir))
    return CliRunner()


def _in_app(settings: Settings, work: Any) -> Any:
    async def run() -> Any:
        async with office_app(settings) as app, client_for(app) as client:
            return await work(app, client)

    return asyncio.run(run())


def test_cli_lifecycle(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = _cli(settings, monkeypatch)
    made = runner.invoke(staff_cli, ["add", "li", "--role", "agent"], input=PASSWORD + "\n")
    assert made.exit_code == 0, made.output

    async def two_tokens(app: FastAPI, client: httpx.AsyncClient) -> list[dict[str, str]]:
        return [await token_for(client, "li"), await token_for(client, "li")]

    tokens = _in_app(settings, two_tokens)
    listed = runner.invoke(staff_cli, ["tokens", "li"])
    assert listed.exit_code == 0 and listed.stdout.count(" api ") == 2
    assert not any(t["Authorization"].split()[1] in listed.stdout for t in tokens)

    async def statuses(app: FastAPI, client: httpx.AsyncClient) -> list[int]:
        return [await _status(client, t) for t in tokens]

    bad = runner.invoke(staff_cli, ["revoke", "li"])
    assert bad.exit_code == 2 and "--token ID or --all" in bad.output
    assert runner.invoke(staff_cli, ["revoke", "li", "--token", "99999"]).exit_code == 2
    revoked = runner.invoke(staff_cli, ["revoke", "li", "--all", "--as", "ops.wang"])
    assert revoked.exit_code == 0 and "revoked 2 token(s)" in revoked.stdout
    assert _in_app(settings, statuses) == [401, 401]

    tokens = _in_app(settings, two_tokens)
    off = runner.invoke(staff_cli, ["deactivate", "li"])
    assert off.exit_code == 0 and "deactivated li" in off.stdout
    assert _in_app(settings, statuses) == [401, 401]
    state = runner.invoke(staff_cli, ["list"])
    assert "deactivated" in state.stdout
    assert runner.invoke(staff_cli, ["reactivate", "li"]).exit_code == 0

    changed = runner.invoke(staff_cli, ["passwd", "li"], input=f"wrong password\n{NEW_PASSWORD}\n")
    assert changed.exit_code == 2 and "current password is wrong" in changed.output
    changed = runner.invoke(staff_cli, ["passwd", "li"], input=f"{PASSWORD}\nshort\n")
    assert changed.exit_code == 2 and "at least 10" in changed.output
    changed = runner.invoke(staff_cli, ["passwd", "li"], input=f"{PASSWORD}\n{NEW_PASSWORD}\n")
    assert changed.exit_code == 0, changed.output

    reset = runner.invoke(staff_cli, ["reset-password", "li", "--generate"])
    assert reset.exit_code == 0, reset.output
    generated = reset.stdout.split("shown once): ")[1].strip()

    async def logins(app: FastAPI, client: httpx.AsyncClient) -> list[int]:
        return [
            await _login_status(client, "li", NEW_PASSWORD),
            await _login_status(client, "li", generated),
        ]

    assert _in_app(settings, logins) == [401, 200]
    missing = runner.invoke(staff_cli, ["deactivate", "ghost"])
    assert missing.exit_code == 2 and "no staff member 'ghost'" in missing.output
