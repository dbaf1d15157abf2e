"""Assistance requests (协查) and clue notices (线索通报) over the API, for an office's own
system: the same steps as the console's, scoped to the offices in them, refused with codes
and English messages, and audited."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from bot.staff.models import AuditEntry
from integrations.credit.sample import code
from tests.bot.backoffice_helpers import client_for, make_staff, submit_case
from tests.bot.backoffice_helpers import token_for as login
from tests.bot.test_assists import NOW, QUESTION, SHENZHEN_SHOP
from tests.bot.test_assists import office as office  # the fixture: agents of three offices

pytestmark = pytest.mark.databases("sqlite")

SZ_CODE = code("440305", "MA0XMPL01")  # registered in Shenzhen Nanshan (sz-nanshan)


class Staff:
    """One person's API client."""

    def __init__(self, api: httpx.AsyncClient, headers: dict[str, str]) -> None:
        self.api, self.headers = api, headers

    async def get(self, path: str) -> httpx.Response:
        return await self.api.get(f"/api/v1{path}", headers=self.headers)

    async def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return await self.api.post(f"/api/v1{path}", json=body or {}, headers=self.headers)


async def people(app: FastAPI, *names: str) -> list[Staff]:
    api = client_for(app)
    return [Staff(api, await login(api, name)) for name in names]


def error(r: httpx.Response) -> tuple[int, str]:
    return r.status_code, r.json()["error"]


async def actions(app: FastAPI) -> list[tuple[str, str]]:
    async with app.state.sessions() as session:
        rows = (await session.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars()
        return [(a.actor, a.action) for a in rows if a.action.startswith(("assist", "clue"))]


async def test_two_offices_work_an_assistance_request_through_the_api(office: FastAPI) -> None:
    case_no = await submit_case(office, at=NOW, fields=SHENZHEN_SHOP)
    sz, hz, cd = await people(office, "sz1", "hz1", "cd1")

    r = await sz.post(
        f"/cases/{case_no}/assists",
        {"office": "hz-xihu", "subject": "星河数码 的经营地址", "text": QUESTION},
    )
    assert r.status_code == 201, r.text
    asked = r.json()
    assert (asked["case_no"], asked["from_office"], asked["to_office"]) == (
        case_no,
        "sz-nanshan",
        "hz-xihu",
    )
    assert asked["status"] == "open" and asked["due"] == "2026-12-04"  # 5 working days
    assert [(m["author"], m["text"]) for m in asked["messages"]] == [("staff:sz1", QUESTION)]
    number = asked["id"]

    # Each office sees it on its own side; a third office does not see it at all.
    assert [a["id"] for a in (await hz.get("/assists")).json()["incoming"]] == [number]
    assert [a["id"] for a in (await sz.get("/assists")).json()["outgoing"]] == [number]
    assert (await cd.get("/assists")).json() == {"incoming": [], "outgoing": []}
    assert error(await cd.get(f"/assists/{number}")) == (404, "not_found")
    assert error(await cd.post(f"/assists/{number}/reply", {"text": "我来答"})) == (
        404,
        "not_found",
    )

    answered = await hz.post(f"/assists/{number}/reply", {"text": "已核实：地址为文三路259号"})
    assert answered.status_code == 200, answered.text
    assert answered.json()["status"] == "answered"
    assert [m["office"] for m in answered.json()["messages"]] == ["sz-nanshan", "hz-xihu"]
    # Only the asking office ends it.
    assert error(await hz.post(f"/assists/{number}/close")) == (403, "forbidden")
    closed = await sz.post(f"/assists/{number}/close")
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert closed.json()["closed_by"] == "staff:sz1"
    assert error(await hz.post(f"/assists/{number}/reply", {"text": "补充"})) == (409, "closed")
    assert (await hz.get("/assists")).json()["incoming"] == []
    assert await actions(office) == [
        ("staff:sz1", "assist_request"),
        ("staff:hz1", "assist_reply"),
        ("staff:sz1", "assist_close"),
    ]


async def test_requests_the_rules_refuse_are_answered_in_english_with_codes(
    office: FastAPI,
) -> None:
    case_no = await submit_case(office, at=NOW, fields=SHENZHEN_SHOP)
    sz, hz = await people(office, "sz1", "hz1")
    path = f"/cases/{case_no}/assists"
    ask = {"office": "hz-xihu", "subject": "经营地址", "text": QUESTION}

    same = await sz.post(path, ask | {"office": "sz-nanshan"})
    assert error(same) == (422, "same_office") and "another" in same.json()["message"]
    assert error(await sz.post(path, ask | {"office": "nowhere"})) == (422, "unknown_office")
    blank = await sz.post(path, ask | {"subject": "   "})
    assert (
        error(blank) == (422, "invalid_request") and blank.json()["message"] == "Give the subject."
    )
    assert error(await sz.post(path, ask | {"due": "2026-11-26"})) == (422, "invalid_due")
    # Another office's case is as unknown as a wrong number.
    assert error(await hz.post(path, ask | {"office": "cd-wuhou"})) == (404, "case_not_found")
    assert await actions(office) == []


async def test_clue_notices_over_the_api_for_the_registering_office(office: FastAPI) -> None:
    """A report in Hangzhou about a business registered in Shenzhen: Shenzhen's office sees
    the notice and decides it; Hangzhou's agent sees only Hangzhou's notices, whatever it asks."""
    report = await submit_case(
        office,
        kind="report",
        at=NOW,
        sender="7",
        fields={
            "target_name": f"星河数码 {SZ_CODE}",
            "target_location": "杭州市西湖区文三路1号",
            "violation": "counterfeit_brand",
            "identity": "anonymous",
            "facts": "店里卖假耐克鞋",
        },
    )
    await make_staff(office, "boss", "supervisor")
    sz, hz, boss = await people(office, "sz1", "hz1", "boss")
    [notice] = (await sz.get("/clues")).json()["items"]
    assert (notice["office"], notice["uscc"], notice["status"]) == ("sz-nanshan", SZ_CODE, "open")
    assert [r["case_no"] for r in notice["reports"]] == [report]
    assert (await hz.get("/clues?office=sz-nanshan")).json()["items"] == []
    assert [n["id"] for n in (await boss.get("/clues?office=sz-nanshan")).json()["items"]] == [
        notice["id"]
    ]

    assert error(await hz.post(f"/clues/{notice['id']}/acknowledge")) == (404, "not_found")
    assert (await sz.post(f"/clues/{notice['id']}/archive")).status_code == 422
    done = await sz.post(f"/clues/{notice['id']}/dismiss", {"note": "该店已注销"})
    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["decided_by"]) == ("dismissed", "staff:sz1")
    assert error(await boss.post(f"/clues/{notice['id']}/acknowledge")) == (409, "decided")
    assert (await sz.get("/clues")).json()["items"] == []
    assert await actions(office) == [("staff:sz1", "clue_dismissed")]
