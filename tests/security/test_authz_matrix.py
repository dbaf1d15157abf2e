"""Every route, every role: the status each one gets, read from the app's own route table.

The roles are: nobody signed in, the agent holding the conversation, another agent, an
agent of another office (the world's case is routed to the Shenzhen Nanshan office, this
agent works Hangzhou Xihu's), a supervisor and an admin. Each route is probed with a real request (real case number, real
hand-over request, real evidence), the state-changing ones on a fresh case each time, so one
role's action never decides another's answer. A route the app serves that has no row in
``EXPECTED`` fails the test: a new route needs its authorisation decided here
(``WEIQUAN_AUTHZ_DISCOVER=1 pytest -s`` prints what each role gets today, as rows).
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from bot.app import create_app
from bot.extensions import Extension
from bot.settings import Settings
from bot.staff.accounts import token_id_for
from bot.staff.extension import BackofficeExtension
from integrations.telegram import TelegramExtension
from integrations.wechat import WechatExtension
from tests.bot.backoffice_helpers import (
    PASSWORD,
    client_for,
    make_staff,
    office_settings,
    token_for,
)
from tests.factories import COMPLAINT_ANSWERS, chat_for

ROLES = ("anonymous", "agent", "other_agent", "office_agent", "supervisor", "admin")
USERS = {
    "agent": "li",
    "other_agent": "wang",
    "office_agent": "chen",
    "supervisor": "zhao",
    "admin": "root",
}

AGENT, OTHER, OFFICE_AGENT = "agent", "other_agent", "office_agent"
# The office of the agent of another office; the world's case goes to sz-nanshan.
OTHER_OFFICE = "hz-xihu"


def row(
    anonymous: int,
    agent: int,
    other_agent: int,
    supervisor: int,
    admin: int,
    *,
    office_agent: int | None = None,
) -> dict[str, int]:
    """Statuses per role; the agent of another office gets what another agent gets unless
    the route is about the case (which it may not see)."""
    office = other_agent if office_agent is None else office_agent
    return dict(zip(ROLES, (anonymous, agent, other_agent, office, supervisor, admin), strict=True))


def everyone(status: int) -> dict[str, int]:
    return row(status, status, status, status, status)


async def make_role(app: FastAPI, username: str, role: str) -> None:
    if role == OFFICE_AGENT:
        await make_staff(app, username, "agent", office=OTHER_OFFICE)
    else:
        await make_staff(app, username, "agent" if role in {AGENT, OTHER} else role)


# (method, route path) -> status per role. Console pages answer 303 (to the login page)
# when nobody is signed in; the API answers 401.
# Columns: nobody, the holding agent (also the account's owner), another agent, a
# supervisor, an admin. A 409 means the role got past authorisation to a state check (the
# case is a complaint, the request already held); the console redirects (303) after a change.
EXPECTED: dict[tuple[str, str], dict[str, int]] = {
    ("DELETE", "/api/v1/staff/{username}/tokens"): row(401, 200, 403, 403, 200),
    ("DELETE", "/api/v1/staff/{username}/tokens/{token_id}"): row(401, 200, 403, 403, 200),
    ("GET", "/"): row(200, 200, 200, 200, 200),
    ("GET", "/api/v1/audit"): row(401, 403, 403, 200, 200),
    ("GET", "/api/v1/backoffice/deliveries"): row(401, 403, 403, 200, 403),
    ("GET", "/api/v1/cases"): row(401, 200, 200, 200, 403),
    ("GET", "/api/v1/cases/{case_no}"): row(401, 200, 200, 200, 403, office_agent=404),
    ("GET", "/api/v1/cases/{case_no}/evidence/{sha256}"): row(
        401, 200, 200, 200, 403, office_agent=404
    ),
    ("GET", "/api/v1/dashboard"): row(401, 200, 200, 200, 403),
    ("GET", "/api/v1/me"): row(401, 200, 200, 200, 200),
    # A forwarded case's evidence opens by its signed link only: no sign-in opens it.
    ("GET", "/api/v1/transfers/{case_no}/evidence/{sha256}"): everyone(403),
    ("GET", "/api/v1/queue"): row(401, 200, 200, 200, 403),
    ("GET", "/api/v1/queue/{request_id}/messages"): row(401, 200, 403, 200, 403),
    ("GET", "/api/v1/staff"): row(401, 403, 403, 403, 200),
    ("GET", "/api/v1/staff/{username}"): row(401, 200, 403, 403, 200),
    ("GET", "/api/v1/staff/{username}/tokens"): row(401, 200, 403, 403, 200),
    ("GET", "/console"): row(303, 303, 303, 303, 303),
    ("GET", "/console/"): row(303, 303, 303, 303, 303),
    ("GET", "/console/account"): row(303, 200, 200, 200, 200),
    ("GET", "/console/audit"): row(303, 403, 403, 200, 200),
    ("GET", "/console/backoffice"): row(303, 403, 403, 200, 403),
    ("GET", "/console/cases"): row(303, 200, 200, 200, 403),
    ("GET", "/console/cases/{case_no}"): row(303, 200, 200, 200, 403, office_agent=404),
    ("GET", "/console/cases/{case_no}/evidence/{sha256}"): row(
        303, 200, 200, 200, 403, office_agent=404
    ),
    ("GET", "/console/dashboard"): row(303, 200, 200, 200, 403),
    ("GET", "/console/login"): row(200, 200, 200, 200, 200),
    ("GET", "/console/queue"): row(303, 200, 200, 200, 403),
    ("GET", "/console/queue/{request_id}"): row(303, 200, 200, 200, 403),
    ("GET", "/console/queue/{request_id}/messages"): row(401, 200, 403, 200, 403),
    ("GET", "/console/staff"): row(303, 403, 403, 403, 200),
    ("GET", "/console/staff/{username}"): row(303, 403, 403, 403, 200),
    ("GET", "/console/typical-cases"): row(303, 200, 200, 200, 403),
    ("GET", "/console/alerts"): row(303, 200, 200, 200, 403),
    ("GET", "/console/assists"): row(303, 200, 200, 200, 403),
    # No assistance request in the world: workers get past authorisation to 404.
    ("GET", "/console/assists/{request_id}"): row(303, 404, 404, 404, 403),
    ("POST", "/console/assists/{request_id}/{action}"): row(303, 404, 404, 404, 403),
    # Asking another office on a case: whoever sees the case.
    ("POST", "/console/cases/{case_no}/assists"): row(303, 303, 303, 303, 403, office_agent=404),
    # Supervisors only: the monthly CCC risk export for platforms (no consumer data).
    ("GET", "/console/ccc-risk"): row(303, 403, 403, 200, 403),
    ("GET", "/docs"): row(200, 200, 200, 200, 200),
    ("GET", "/docs/oauth2-redirect"): row(200, 200, 200, 200, 200),
    ("GET", "/healthz"): row(200, 200, 200, 200, 200),
    ("GET", "/openapi.json"): row(200, 200, 200, 200, 200),
    ("GET", "/readyz"): row(200, 200, 200, 200, 200),
    ("GET", "/redoc"): row(200, 200, 200, 200, 200),
    ("GET", "/webhooks/rest/pushes"): row(200, 200, 200, 200, 200),
    ("GET", "/webhooks/wechat"): row(404, 404, 404, 404, 404),
    ("POST", "/api/v1/auth/token"): row(401, 401, 401, 401, 401),
    ("POST", "/api/v1/cases/{case_no}/actions"): row(401, 409, 409, 409, 403, office_agent=404),
    # Forwarding: whoever may work the case (agents of its office, supervisors).
    ("POST", "/api/v1/cases/{case_no}/forward"): row(401, 200, 200, 200, 403, office_agent=404),
    # Merging into an earlier report: whoever may work the case; the world has no report to
    # merge into, so those past authorisation are told so (422).
    ("POST", "/api/v1/cases/{case_no}/merge"): row(401, 422, 422, 422, 403, office_agent=404),
    ("POST", "/api/v1/cases/{case_no}/reveal"): row(401, 403, 403, 200, 403),
    # Between offices: whoever sees the case asks; no request or notice exists in the world
    # (ids 999999), so workers get past authorisation to 404; lists answer every worker.
    ("POST", "/api/v1/cases/{case_no}/assists"): row(401, 201, 201, 201, 403, office_agent=404),
    ("GET", "/api/v1/assists"): row(401, 200, 200, 200, 403),
    ("GET", "/api/v1/assists/{request_id}"): row(401, 404, 404, 404, 403),
    ("POST", "/api/v1/assists/{request_id}/reply"): row(401, 404, 404, 404, 403),
    ("POST", "/api/v1/assists/{request_id}/close"): row(401, 404, 404, 404, 403),
    ("GET", "/api/v1/clues"): row(401, 200, 200, 200, 403),
    ("POST", "/api/v1/clues/{notice_id}/{decision}"): row(401, 404, 404, 404, 403),
    # Supervisors only; the world's case is a complaint, which has no report password (409).
    ("POST", "/api/v1/cases/{case_no}/report-password"): row(401, 403, 403, 409, 403),
    ("POST", "/api/v1/cases/{case_no}/transitions"): row(401, 200, 200, 200, 403, office_agent=404),
    ("POST", "/api/v1/me/password"): row(401, 204, 204, 204, 204),
    ("POST", "/api/v1/queue/{request_id}/claim"): row(401, 409, 409, 409, 403),
    ("POST", "/api/v1/queue/{request_id}/close"): row(401, 200, 403, 200, 403),
    ("POST", "/api/v1/queue/{request_id}/release"): row(401, 200, 403, 200, 403),
    ("POST", "/api/v1/queue/{request_id}/reply"): row(401, 202, 403, 202, 403),
    ("POST", "/api/v1/queue/{request_id}/transfer"): row(401, 200, 403, 200, 403),
    ("POST", "/api/v1/staff"): row(401, 403, 403, 403, 201),
    ("POST", "/api/v1/staff/{username}/deactivate"): row(401, 403, 403, 403, 200),
    ("POST", "/api/v1/staff/{username}/password"): row(401, 403, 403, 403, 200),
    ("POST", "/api/v1/staff/{username}/reactivate"): row(401, 403, 403, 403, 200),
    ("POST", "/console/account/password"): row(303, 200, 200, 200, 200),
    ("POST", "/console/cases/{case_no}/forward"): row(303, 303, 303, 303, 403, office_agent=404),
    # The case page again, saying there is no such report to merge into.
    ("POST", "/console/cases/{case_no}/merge"): row(303, 200, 200, 200, 403, office_agent=404),
    ("POST", "/console/cases/{case_no}/reveal"): row(303, 403, 403, 200, 403),
    # Supervisors only; a case without a report password is answered 404.
    ("POST", "/console/cases/{case_no}/report-password"): row(303, 403, 403, 404, 403),
    ("POST", "/console/cases/{case_no}/transition"): row(303, 303, 303, 303, 403, office_agent=404),
    ("POST", "/console/login"): row(403, 403, 403, 403, 403),
    ("POST", "/console/logout"): row(303, 303, 303, 303, 303),
    ("POST", "/console/queue/{request_id}/claim"): row(303, 409, 409, 409, 403),
    ("POST", "/console/queue/{request_id}/{action}"): row(303, 202, 403, 202, 403),
    ("POST", "/console/staff"): row(303, 403, 403, 403, 200),
    ("POST", "/console/typical-cases"): row(303, 403, 403, 303, 403),
    ("POST", "/console/alerts"): row(303, 403, 403, 303, 403),
    ("POST", "/console/alerts/{alert_id}/resume"): row(303, 403, 403, 404, 403),
    # No clue notice in the world: staff who may decide one get past authorisation to 404.
    ("POST", "/console/clues/{notice_id}/{decision}"): row(303, 404, 404, 404, 403),
    ("POST", "/console/typical-cases/{case_id}/withdraw"): row(303, 403, 403, 404, 403),
    ("POST", "/console/staff/{username}/tokens/revoke"): row(303, 303, 403, 403, 303),
    ("POST", "/console/staff/{username}/tokens/{token_id}/revoke"): row(303, 303, 403, 403, 303),
    ("POST", "/console/staff/{username}/{change}"): row(303, 403, 403, 403, 303),
    ("POST", "/webhooks/rest/upload"): row(415, 415, 415, 415, 415),
    ("POST", "/webhooks/rest/webhook"): row(200, 200, 200, 200, 200),
    ("POST", "/webhooks/telegram"): row(403, 403, 403, 403, 403),
    ("POST", "/webhooks/wechat"): row(404, 404, 404, 404, 404),
}


@dataclass
class World:
    """One complaint with a photo and a hand-over request held by the agent ``li``."""

    case_no: str
    request_id: int
    sha256: str
    username: str
    token_id: int


async def build_world(
    app: FastAPI, li: httpx.AsyncClient, li_auth: dict[str, str], username: str
) -> World:
    chat = chat_for(app)
    await chat.say("我要投诉")
    for _ in range(30):
        awaiting = chat.awaiting
        if awaiting == "confirm":
            break
        if awaiting == "photos":
            await chat.photo(seed=len(chat.sender))
            await chat.say("/done")
            continue
        await chat.say(COMPLAINT_ANSWERS[str(awaiting)])
        if chat.awaiting == "demand":
            await chat.say("/done")
    await chat.say("/confirm")
    case_no = str(chat.last[0].custom["case_no"])
    await chat.say("转人工")
    queue = (await li.get("/api/v1/queue", headers=li_auth)).json()
    items = queue["items"] if isinstance(queue, dict) else queue
    request_id = max(int(item["id"]) for item in items)
    claimed = await li.post(f"/api/v1/queue/{request_id}/claim", headers=li_auth)
    assert claimed.status_code == 200, claimed.text
    case = (await li.get(f"/api/v1/cases/{case_no}", headers=li_auth)).json()
    sha256 = str(case["evidence"][0]["sha256"])
    async with app.state.sessions() as session:
        token_id = await token_id_for(session, li_auth["Authorization"].partition(" ")[2])
    assert token_id is not None
    return World(case_no, request_id, sha256, username, token_id)


Probe = Callable[[World], tuple[str, dict[str, Any]]]

# How to call each route: the concrete path and the request's body for a world.
PROBES: dict[tuple[str, str], Probe] = {}


def probe(method: str, path: str) -> Callable[[Probe], Probe]:
    def add(fn: Probe) -> Probe:
        PROBES[(method, path)] = fn
        return fn

    return add


def _get(path: str) -> Probe:
    return lambda world: (fill(path, world), {})


def _post(path: str, **kwargs: Any) -> Probe:
    return lambda world: (fill(path, world), dict(kwargs))


for _path in (
    "/healthz",
    "/readyz",
    "/",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    "/webhooks/rest/pushes?sender=nobody",
    "/webhooks/wechat",
    "/api/v1/me",
    "/api/v1/staff",
    "/api/v1/cases",
    "/api/v1/cases/{case_no}",
    "/api/v1/cases/{case_no}/evidence/{sha256}",
    "/api/v1/transfers/{case_no}/evidence/{sha256}",
    "/api/v1/backoffice/deliveries",
    "/api/v1/queue",
    "/api/v1/queue/{request_id}/messages",
    "/api/v1/dashboard",
    "/console",
    "/console/",
    "/console/login",
    "/console/queue",
    "/console/queue/{request_id}",
    "/console/queue/{request_id}/messages",
    "/console/cases",
    "/console/cases/{case_no}",
    "/console/cases/{case_no}/evidence/{sha256}",
    "/console/dashboard",
    "/console/backoffice",
    "/console/staff",
    "/api/v1/staff/{username}",
    "/api/v1/staff/{username}/tokens",
    "/api/v1/audit",
    "/console/account",
    "/console/staff/{username}",
    "/console/audit",
    "/console/typical-cases",
    "/console/alerts",
    "/console/assists",
    "/console/ccc-risk",
):
    PROBES[("GET", _path.partition("?")[0])] = _get(_path)

PROBES.update(
    {
        ("POST", "/webhooks/rest/webhook"): _post(
            "/webhooks/rest/webhook", json={"sender": "matrix", "message": "你好"}
        ),
        ("POST", "/webhooks/rest/upload"): _post(
            "/webhooks/rest/upload", data={"sender": "matrix"}, files={"file": ("a.txt", b"x")}
        ),
        ("POST", "/webhooks/wechat"): _post("/webhooks/wechat", content=b"<xml></xml>"),
        ("POST", "/webhooks/telegram"): _post("/webhooks/telegram", json={"update_id": 1}),
        ("POST", "/api/v1/auth/token"): _post(
            "/api/v1/auth/token", json={"username": "li", "password": "wrong password!"}
        ),
        ("POST", "/api/v1/staff"): _post(
            "/api/v1/staff",
            json={"username": "newbie", "password": "a long enough pass phrase", "role": "agent"},
        ),
        ("POST", "/api/v1/cases/{case_no}/reveal"): _post(
            "/api/v1/cases/{case_no}/reveal", json={"reason": "核实投诉人身份以便联系"}
        ),
        ("POST", "/api/v1/cases/{case_no}/report-password"): _post(
            "/api/v1/cases/{case_no}/report-password", json={"password": "举报密码一二三"}
        ),
        ("POST", "/api/v1/cases/{case_no}/transitions"): _post(
            "/api/v1/cases/{case_no}/transitions", json={"to": "accepted"}
        ),
        ("POST", "/api/v1/cases/{case_no}/forward"): _post(
            "/api/v1/cases/{case_no}/forward",
            json={"office": "hz-xihu", "reason": "seller_elsewhere"},
        ),
        ("POST", "/api/v1/cases/{case_no}/merge"): _post(
            "/api/v1/cases/{case_no}/merge", json={"into": "JB20990101000001"}
        ),
        ("POST", "/console/cases/{case_no}/merge"): _post(
            "/console/cases/{case_no}/merge", data={"into": "JB20990101000001"}
        ),
        ("POST", "/api/v1/cases/{case_no}/assists"): _post(
            "/api/v1/cases/{case_no}/assists",
            json={"office": "cd-wuhou", "subject": "数码配件小铺", "text": "请核实经营地址"},
        ),
        ("GET", "/api/v1/assists"): _get("/api/v1/assists"),
        ("GET", "/api/v1/assists/{request_id}"): lambda world: (
            fill("/api/v1/assists/{request_id}", world, request_id="999999"),
            {},
        ),
        ("POST", "/api/v1/assists/{request_id}/reply"): lambda world: (
            fill("/api/v1/assists/{request_id}/reply", world, request_id="999999"),
            {"json": {"text": "已核实"}},
        ),
        ("POST", "/api/v1/assists/{request_id}/close"): lambda world: (
            fill("/api/v1/assists/{request_id}/close", world, request_id="999999"),
            {},
        ),
        ("GET", "/api/v1/clues"): _get("/api/v1/clues"),
        ("POST", "/api/v1/clues/{notice_id}/{decision}"): lambda world: (
            fill(
                "/api/v1/clues/{notice_id}/{decision}",
                world,
                notice_id="999999",
                decision="acknowledge",
            ),
            {"json": {}},
        ),
        ("GET", "/console/assists/{request_id}"): lambda world: (
            fill("/console/assists/{request_id}", world, request_id="999999"),
            {},
        ),
        ("POST", "/console/assists/{request_id}/{action}"): lambda world: (
            fill(
                "/console/assists/{request_id}/{action}", world, request_id="999999", action="close"
            ),
            {},
        ),
        ("POST", "/console/cases/{case_no}/assists"): _post(
            "/console/cases/{case_no}/assists",
            data={
                "office": "cd-wuhou",
                "subject": "数码配件小铺",
                "text": "请核实经营地址",
                "due": "2099-01-01",
            },
        ),
        ("POST", "/console/cases/{case_no}/forward"): _post(
            "/console/cases/{case_no}/forward",
            data={"office": "hz-xihu", "reason": "seller_elsewhere"},
        ),
        ("POST", "/api/v1/cases/{case_no}/actions"): _post(
            "/api/v1/cases/{case_no}/actions", json={"action": "reporter_notified"}
        ),
        ("POST", "/api/v1/queue/{request_id}/claim"): _post("/api/v1/queue/{request_id}/claim"),
        ("POST", "/api/v1/queue/{request_id}/reply"): _post(
            "/api/v1/queue/{request_id}/reply", json={"text": "您好，我是工作人员"}
        ),
        ("POST", "/api/v1/queue/{request_id}/transfer"): _post(
            "/api/v1/queue/{request_id}/transfer", json={"to": "wang"}
        ),
        ("POST", "/api/v1/queue/{request_id}/release"): _post("/api/v1/queue/{request_id}/release"),
        ("POST", "/api/v1/queue/{request_id}/close"): _post("/api/v1/queue/{request_id}/close"),
        ("POST", "/console/login"): _post(
            "/console/login", data={"username": "li", "password": "wrong", "csrf": "x"}
        ),
        ("POST", "/console/logout"): _post("/console/logout"),
        ("POST", "/console/queue/{request_id}/claim"): _post("/console/queue/{request_id}/claim"),
        ("POST", "/console/queue/{request_id}/{action}"): lambda world: (
            fill("/console/queue/{request_id}/{action}", world, action="reply"),
            {"data": {"text": "您好"}},
        ),
        ("POST", "/console/cases/{case_no}/reveal"): _post(
            "/console/cases/{case_no}/reveal", data={"reason": "核实投诉人身份以便联系"}
        ),
        ("POST", "/console/cases/{case_no}/report-password"): _post(
            "/console/cases/{case_no}/report-password", data={"password": "举报密码一二三"}
        ),
        ("POST", "/console/cases/{case_no}/transition"): _post(
            "/console/cases/{case_no}/transition", data={"to": "accepted"}
        ),
        ("POST", "/api/v1/staff/{username}/deactivate"): _post(
            "/api/v1/staff/{username}/deactivate"
        ),
        ("POST", "/api/v1/staff/{username}/reactivate"): _post(
            "/api/v1/staff/{username}/reactivate"
        ),
        ("POST", "/api/v1/staff/{username}/password"): _post(
            "/api/v1/staff/{username}/password", json={}
        ),
        ("POST", "/api/v1/me/password"): _post(
            "/api/v1/me/password",
            json={"current_password": PASSWORD, "new_password": "another long pass phrase"},
        ),
        ("DELETE", "/api/v1/staff/{username}/tokens/{token_id}"): lambda world: (
            fill("/api/v1/staff/{username}/tokens/{token_id}", world),
            {},
        ),
        ("DELETE", "/api/v1/staff/{username}/tokens"): lambda world: (
            fill("/api/v1/staff/{username}/tokens", world),
            {},
        ),
        ("POST", "/console/account/password"): _post(
            "/console/account/password",
            data={
                "current": PASSWORD,
                "new": "another long pass phrase",
                "confirm": "another long pass phrase",
            },
        ),
        ("POST", "/console/staff/{username}/tokens/{token_id}/revoke"): _post(
            "/console/staff/{username}/tokens/{token_id}/revoke"
        ),
        ("POST", "/console/staff/{username}/tokens/revoke"): _post(
            "/console/staff/{username}/tokens/revoke"
        ),
        ("POST", "/console/staff/{username}/{change}"): lambda world: (
            fill("/console/staff/{username}/{change}", world, change="deactivate"),
            {},
        ),
        ("POST", "/console/staff"): _post(
            "/console/staff",
            data={"username": "newbie", "password": "a long enough pass phrase", "role": "agent"},
        ),
        ("POST", "/console/typical-cases"): _post(
            "/console/typical-cases",
            data={
                "category": "chargers",
                "title_zh": "无3C充电宝被查处",
                "title_en": "Power banks without CCC seized",
                "summary_zh": "某摊位销售无3C标志的充电宝。",
                "summary_en": "A stall sold power banks without the CCC mark.",
            },
        ),
        ("POST", "/console/alerts"): _post(
            "/console/alerts",
            data={
                "category": "chargers",
                "title_zh": "某型号充电宝召回",
                "title_en": "A power bank model recalled",
                "text_zh": "该型号充电宝存在过热风险，请停止使用。",
                "text_en": "This power bank model may overheat; stop using it.",
                "brands": "示例牌",
                "source_url": "https://www.samr.gov.cn/",
                "valid_from": "2026-11-01",
                "valid_until": "2026-12-31",
            },
        ),
        # No alert is published in the world: a supervisor gets past authorisation to 404.
        ("POST", "/console/alerts/{alert_id}/resume"): lambda world: (
            fill("/console/alerts/{alert_id}/resume", world, alert_id="999999"),
            {},
        ),
        ("POST", "/console/clues/{notice_id}/{decision}"): lambda world: (
            fill(
                "/console/clues/{notice_id}/{decision}",
                world,
                notice_id="999999",
                decision="dismiss",
            ),
            {},
        ),
        # No case is published in the world: a supervisor gets past authorisation to 404.
        ("POST", "/console/typical-cases/{case_id}/withdraw"): lambda world: (
            fill("/console/typical-cases/{case_id}/withdraw", world, case_id="999999"),
            {},
        ),
    }
)


def fill(path: str, world: World, **extra: str) -> str:
    values = {
        "case_no": world.case_no,
        "request_id": str(world.request_id),
        "sha256": world.sha256,
        "username": world.username,
        "token_id": str(world.token_id),
        **extra,
    }
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def served_routes(app: FastAPI) -> set[tuple[str, str]]:
    routes = set()
    for context in iter_route_contexts(app.router.routes):
        for method in context.methods or ():
            if method != "HEAD":
                routes.add((method, str(context.path)))
    return routes


@pytest.fixture
async def office(sqlite_settings: Settings) -> AsyncIterator[FastAPI]:
    """The served app's routes: the back office and both channels (idle without their keys)."""
    extensions: list[Extension] = [
        BackofficeExtension(),
        TelegramExtension(),
        WechatExtension(),
    ]
    # Each of the six roles sends one wrong password for "li": above the default limit of 5.
    settings = office_settings(sqlite_settings, login_max_failures=10)
    app = create_app(settings, extensions=extensions, run_outbox=False)
    async with app.router.lifespan_context(app):
        for role, user in USERS.items():
            await make_role(app, user, role)
        yield app


async def console_client(app: FastAPI, username: str) -> tuple[httpx.AsyncClient, str]:
    client = client_for(app)
    page = await client.get("/console/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token, page.text
    r = await client.post(
        "/console/login", data={"username": username, "password": PASSWORD, "csrf": token.group(1)}
    )
    assert r.status_code == 303, r.text
    for page_path in ("/console/queue", "/console/staff", "/console/account"):
        home = await client.get(page_path, follow_redirects=True)
        csrf = re.search(r'name="csrf" value="([^"]+)"', home.text)
        if csrf:
            return client, csrf.group(1)
    raise AssertionError(f"no console page with a form for {username}")


@dataclass
class Actors:
    """Who sends the probes: bearer headers and signed-in console clients per role."""

    auth: dict[str, dict[str, str]]
    consoles: dict[str, tuple[httpx.AsyncClient, str]]
    agent: str


async def sign_in(
    app: FastAPI, api: httpx.AsyncClient, users: dict[str, str], *, like: Actors | None = None
) -> Actors:
    """Tokens and console sessions for ``users``; roles whose user is as in ``like`` reuse its."""
    auth: dict[str, dict[str, str]] = {"anonymous": {}}
    # Nobody signed in still sends a CSRF field, so the console answers on who is asking.
    consoles: dict[str, tuple[httpx.AsyncClient, str]] = {"anonymous": (client_for(app), "forged")}
    for role, user in users.items():
        if like is not None and user == USERS[role]:
            auth[role], consoles[role] = like.auth[role], like.consoles[role]
            continue
        auth[role] = await token_for(api, user)
        consoles[role] = await console_client(app, user)
    return Actors(auth, consoles, users[AGENT])


def changes_an_account(method: str, path: str) -> bool:
    """Probes that deactivate, re-password, revoke or sign out their target's account."""
    return method != "GET" and any(
        part in path for part in ("{username}", "password", "logout", "tokens")
    )


def changes_the_caller(path: str) -> bool:
    """Probes that change whoever sends them (their own password, their own session)."""
    return path in {"/api/v1/me/password", "/console/account/password", "/console/logout"}


async def observe(app: FastAPI) -> dict[tuple[str, str], dict[str, int]]:
    """Each route as each role sees it."""
    api = client_for(app)
    base = await sign_in(app, api, USERS)
    opened = [base]
    shared = await build_world(app, api, base.auth[AGENT], base.agent)
    seen: dict[tuple[str, str], dict[str, int]] = {}
    fresh = 0
    try:
        for key in sorted(served_routes(app)):
            method, path = key
            if key not in PROBES:
                continue
            seen[key] = {}
            world: World | None = None
            for role in ROLES:
                actors = base
                if changes_an_account(method, path):
                    # The agent role is a new account each time: its own world, its own target;
                    # every role is, where the probe changes its sender.
                    fresh += 1
                    users = {**USERS, AGENT: f"agent{fresh}"}
                    if changes_the_caller(path):
                        users = {r: f"{r.replace('_', '')}{fresh}" for r in USERS}
                    for r, user in users.items():
                        if user != USERS.get(r):
                            await make_role(app, user, r)
                    actors = await sign_in(app, api, users, like=base)
                    opened.append(actors)
                    world = None
                if method == "GET":
                    world = shared
                elif world is None:
                    # A state-changing probe gets a world of its own until one is accepted.
                    world = await build_world(app, api, actors.auth[AGENT], actors.agent)
                url, kwargs = PROBES[key](world)
                if path.startswith("/console"):
                    client, csrf = actors.consoles[role]
                    if method == "POST":
                        kwargs = {**kwargs, "data": {"csrf": csrf, **kwargs.get("data", {})}}
                    answer = await client.request(method, url, **kwargs)
                else:
                    headers = {**actors.auth[role], **kwargs.pop("headers", {})}
                    answer = await api.request(method, url, headers=headers, **kwargs)
                seen[key][role] = answer.status_code
                if answer.status_code < 400:
                    world = None
    finally:
        await api.aclose()
        for actors in opened:
            for role, (client, _) in actors.consoles.items():
                if actors is base or client is not base.consoles[role][0]:
                    await client.aclose()
    return seen


async def test_every_route_has_a_decided_authorisation(office: FastAPI) -> None:
    served = served_routes(office)
    missing = sorted(served - EXPECTED.keys())
    assert not missing, f"routes without an authorisation row in EXPECTED: {missing}"
    gone = sorted(EXPECTED.keys() - served)
    assert not gone, f"rows in EXPECTED for routes the app no longer serves: {gone}"
    assert not sorted(EXPECTED.keys() - PROBES.keys())


@pytest.mark.heavy
@pytest.mark.slow  # every route as six roles, a world built per changing probe: about 50 s
async def test_each_role_gets_the_expected_status(office: FastAPI) -> None:
    seen = await observe(office)
    if os.environ.get("WEIQUAN_AUTHZ_DISCOVER"):
        for (method, path), statuses in seen.items():
            print(f"    ({method!r}, {path!r}): row({', '.join(str(statuses[r]) for r in ROLES)}),")  # noqa: T201
    wrong = {
        f"{method} {path}": {
            role: f"got {seen[(method, path)][role]}, expected {want}"
            for role, want in expected.items()
            if seen[(method, path)][role] != want
        }
        for (method, path), expected in EXPECTED.items()
    }
    wrong = {route: roles for route, roles in wrong.items() if roles}
    assert not wrong, wrong
