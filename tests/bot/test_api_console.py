"""The console over HTTP: sign-in with CSRF, cookie flags, pages per role, forms, charts."""

from __future__ import annotations

import re

import httpx
import pytest

from bot.settings import Settings
from tests.bot.backoffice_helpers import (
    PASSWORD,
    Clock,
    client_for,
    make_staff,
    office_app,
    submit_case,
)
from tests.factories import chat_for


async def login(client: httpx.AsyncClient, username: str) -> tuple[httpx.Response, str]:
    page = await client.get("/console/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    r = await client.post(
        "/console/login", data={"username": username, "password": PASSWORD, "csrf": token.group(1)}
    )
    return r, token.group(1)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


@pytest.mark.databases("sqlite")
async def test_login_cookie_and_csrf(settings: Settings) -> None:
    async with (
        office_app(settings, clock=Clock(), cookie_secure=True) as app,
        client_for(app, https=True) as client,
    ):
        await make_staff(app, "li", "agent")
        assert (await client.get("/console/queue")).status_code == 303
        page = await client.get("/console/login")
        assert "工作人员登录" in page.text
        no_csrf = await client.post(
            "/console/login", data={"username": "li", "password": PASSWORD, "csrf": "x"}
        )
        assert no_csrf.status_code == 403
        r, _ = await login(client, "li")
        assert r.status_code == 303 and r.headers["location"] == "/console/queue"
        cookie = r.headers["set-cookie"]
        for flag in ("HttpOnly", "Secure", "SameSite=strict", "Path=/console"):
            assert flag.lower() in cookie.lower()
        bad, _ = await login(client, "nobody")
        assert bad.status_code == 401 and "用户名或密码错误" in bad.text


async def test_console_pages_for_an_agent(settings: Settings) -> None:
    clock = Clock()
    async with (
        office_app(settings, clock=clock, cookie_secure=False) as app,
        client_for(app) as client,
    ):
        await make_staff(app, "li", "agent")
        case_no = await submit_case(app, at=clock.at)
        consumer = chat_for(app, channel="telegram", sender="8888", now=clock.at)
        await consumer.say("转人工")
        await login(client, "li")
        queue = await client.get("/console/queue")
        assert "转人工队列" in queue.text and "用户要求" in queue.text
        assert "default-src 'self'" in queue.headers["content-security-policy"]
        rid = re.search(r'data-request="(\d+)"', queue.text)
        assert rid is not None
        csrf = csrf_of(queue.text)
        forged = await client.post(f"/console/queue/{rid.group(1)}/claim", data={"csrf": "forged"})
        assert forged.status_code == 403
        r = await client.post(f"/console/queue/{rid.group(1)}/claim", data={"csrf": csrf})
        assert r.status_code == 303
        live = await client.get(r.headers["location"])
        assert "交还机器人" in live.text
        sent = await client.post(
            f"/console/queue/{rid.group(1)}/reply", data={"csrf": csrf, "text": "您好"}
        )
        assert sent.status_code == 202
        await consumer.say("谢谢，我的充电宝鼓包了")
        polled = (await client.get(f"/console/queue/{rid.group(1)}/messages?after=0")).json()
        assert [m["text"] for m in polled["messages"]][-2:] == ["您好", "谢谢，我的充电宝鼓包了"]

        listing = await client.get("/console/cases?kind=complaint")
        assert case_no in listing.text
        detail = await client.get(f"/console/cases/{case_no}")
        assert "13512345678" in detail.text and "受理决定" in detail.text
        r = await client.post(
            f"/console/cases/{case_no}/transition", data={"csrf": csrf, "to": "accepted"}
        )
        assert r.status_code == 303
        detail = await client.get(f"/console/cases/{case_no}")
        assert "已受理" in detail.text
        wrong = await client.post(
            f"/console/cases/{case_no}/transition", data={"csrf": csrf, "to": "closed"}
        )
        # Staff are told in their language what the rules refuse (the API answers in English).
        assert wrong.status_code == 200
        assert "投诉当前为“已受理”，不能改为“已办结”。" in wrong.text
        board = await client.get("/console/dashboard")
        for chart in ("intake", "kind", "category", "platform", "merchants"):
            assert f'id="chart-{chart}"' in board.text
        assert "数码配件小铺" in board.text and 'id="hot-complaints"' in board.text
        assert (await client.get("/console/staff")).status_code == 403
        assert (await client.get("/console/backoffice")).status_code == 403
        assert (await client.get("/console/cases/TS20000101000001")).status_code == 404


@pytest.mark.databases("sqlite")
async def test_reports_masked_for_agents_revealed_for_supervisors(settings: Settings) -> None:
    async with (
        office_app(settings, clock=Clock(), cookie_secure=False) as app,
        client_for(app) as client,
    ):
        await make_staff(app, "li", "agent")
        await make_staff(app, "zhang", "supervisor")
        case_no = await submit_case(app, kind="report")
        await login(client, "li")
        page = await client.get(f"/console/cases/{case_no}")
        assert (
            "13512345678" not in page.text
            and "135****5678" in page.text
            and "查看身份" not in page.text
        )
        client.cookies.clear()
        await login(client, "zhang")
        page = await client.get(f"/console/cases/{case_no}")
        assert "查看身份" in page.text and "13512345678" not in page.text
        shown = await client.post(
            f"/console/cases/{case_no}/reveal",
            data={"csrf": csrf_of(page.text), "reason": "核实奖励申领人身份"},
        )
        assert "13512345678" in shown.text
        assert (await client.get("/console/backoffice")).status_code == 200


PAGES = [
    "/console/queue",
    "/console/cases",
    "/console/dashboard",
    "/console/backoffice",
    "/console/staff",
]
CONSOLE_ALLOWED = {
    "agent": {"/console/queue", "/console/cases", "/console/dashboard"},
    "supervisor": {"/console/queue", "/console/cases", "/console/dashboard", "/console/backoffice"},
    "admin": {"/console/staff"},
}


@pytest.mark.databases("sqlite")
async def test_console_pages_by_role_and_admin_creates_staff(settings: Settings) -> None:
    async with (
        office_app(settings, clock=Clock(), cookie_secure=False) as app,
        client_for(app) as client,
    ):
        for role in CONSOLE_ALLOWED:
            await make_staff(app, role, role)
        for role, allowed in CONSOLE_ALLOWED.items():
            client.cookies.clear()
            for page in PAGES:
                assert (await client.get(page)).status_code == 303  # to the login page
            await login(client, role)
            for page in PAGES:
                r = await client.get(page)
                assert r.status_code == (200 if page in allowed else 403), (role, page)
        page = await client.get("/console/staff")
        weak = await client.post(
            "/console/staff",
            data={
                "csrf": csrf_of(page.text),
                "username": "new.agent",
                "role": "agent",
                "password": "short",
            },
        )
        assert "at least 10" in weak.text
        r = await client.post(
            "/console/staff",
            data={
                "csrf": csrf_of(page.text),
                "username": "new.agent",
                "role": "agent",
                "password": PASSWORD,
            },
        )
        assert r.status_code == 303
        assert "new.agent" in (await client.get("/console/staff")).text
        logout = await client.post("/console/logout", data={"csrf": csrf_of(page.text)})
        assert logout.status_code == 303
        assert (await client.get("/console/staff")).status_code == 303


async def test_dashboard_figures(settings: Settings) -> None:
    from tests.bot.backoffice_helpers import token_for

    clock = Clock()
    async with office_app(settings, clock=clock) as app, client_for(app) as client:
        await make_staff(app, "li", "agent")
        for sender in ("1", "2"):
            await submit_case(app, at=clock.at, sender=sender)
        await submit_case(app, kind="report", at=clock.at, sender="3")
        data = (
            await client.get("/api/v1/dashboard?days=7", headers=await token_for(client, "li"))
        ).json()
        assert data["by_kind"] == {"complaint": 2, "report": 1}
        assert data["intake_per_day"][-1] == {"day": "2026-11-27", "count": 3}
        assert data["top_merchants"][0] == {"name": "数码配件小铺", "count": 2}
        assert data["by_platform"]["拼多多"] == 2 and data["overdue"] == 0 and data["total"] == 3
