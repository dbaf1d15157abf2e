"""Each office's agents see their own region's cases; supervisors see across offices and
filter by office and region, in the API and in the console."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from bot.settings import Settings
from integrations.credit.sample import code
from tests.bot.backoffice_helpers import (
    client_for,
    console_login,
    make_staff,
    office_app,
    submit_case,
    token_for,
)

pytestmark = pytest.mark.databases("sqlite")

COMPLAINT = {"product": "充电宝", "platform": "淘宝", "amount": 89}


@pytest.fixture
async def office(sqlite_settings: Settings) -> AsyncIterator[FastAPI]:
    async with office_app(sqlite_settings) as app:
        await make_staff(app, "hz1", "agent", office="hz-xihu")
        await make_staff(app, "sz1", "agent", office="sz-nanshan")
        await make_staff(app, "free", "agent")
        await make_staff(app, "boss", "supervisor")
        yield app


async def three_cases(app: FastAPI) -> dict[str, str]:
    hangzhou = await submit_case(
        app,
        sender="1",
        fields={**COMPLAINT, "merchant": "优品服饰", "merchant_address": "杭州市西湖区文三路1号"},
    )
    shenzhen = await submit_case(
        app,
        sender="2",
        fields={**COMPLAINT, "merchant": f"星河数码 {code('440305', 'MA0XMPL01')}"},
    )
    unknown = await submit_case(
        app,
        sender="3",
        fields={**COMPLAINT, "merchant": "华为专卖店", "merchant_address": "朝阳区"},
    )
    return {"hz": hangzhou, "sz": shenzhen, "unknown": unknown}


async def listed(api: httpx.AsyncClient, auth: dict[str, str], query: str = "") -> set[str]:
    r = await api.get(f"/api/v1/cases{query}", headers=auth)
    assert r.status_code == 200, r.text
    return {item["case_no"] for item in r.json()["items"]}


async def test_an_office_agent_sees_only_its_office_and_supervisors_see_all(
    office: FastAPI,
) -> None:
    cases = await three_cases(office)
    api = client_for(office)
    hz1, sz1 = await token_for(api, "hz1"), await token_for(api, "sz1")
    free, boss = await token_for(api, "free"), await token_for(api, "boss")
    assert await listed(api, hz1) == {cases["hz"]}
    assert await listed(api, sz1) == {cases["sz"]}
    # Asking for another office's cases does not widen an agent's scope.
    assert await listed(api, hz1, "?office=sz-nanshan") == set()
    assert await listed(api, free) == set(cases.values())  # a setup without offices
    assert await listed(api, boss) == set(cases.values())
    assert await listed(api, boss, "?office=sz-nanshan") == {cases["sz"]}
    assert await listed(api, boss, "?office=none") == {cases["unknown"]}
    assert await listed(api, boss, "?region=4403") == {cases["sz"]}
    assert await listed(api, boss, "?region=330106") == {cases["hz"]}
    bad = await api.get("/api/v1/cases?region=44a", headers=boss)
    assert bad.status_code == 422

    # Another office's case is as unknown as a wrong number, for reading and for working it.
    other = await api.get(f"/api/v1/cases/{cases['sz']}", headers=hz1)
    assert other.status_code == 404
    moved = await api.post(
        f"/api/v1/cases/{cases['sz']}/transitions", json={"to": "accepted"}, headers=hz1
    )
    assert moved.status_code == 404
    mine = await api.get(f"/api/v1/cases/{cases['sz']}", headers=sz1)
    assert mine.status_code == 200
    body: dict[str, Any] = mine.json()
    assert body["office"] == "sz-nanshan" and body["region_code"] == "440305"
    assert body["respondent"]["region"]["label"] == "广东省深圳市南山区"
    assert (await api.get(f"/api/v1/cases/{cases['unknown']}", headers=boss)).json()[
        "region_code"
    ] is None


async def test_the_console_lists_and_opens_only_the_offices_cases(office: FastAPI) -> None:
    cases = await three_cases(office)
    hz1 = await console_login(office, "hz1")
    page = await hz1.get("/console/cases")
    assert cases["hz"] in page.text and cases["sz"] not in page.text
    assert "本单位：hz-xihu" in page.text and "浙江省杭州市西湖区" in page.text
    assert (await hz1.get(f"/console/cases/{cases['sz']}")).status_code == 404
    boss = await console_login(office, "boss")
    page = await boss.get("/console/cases?office=none")
    assert cases["unknown"] in page.text and cases["hz"] not in page.text
    assert "待定" in page.text
    detail = await boss.get(f"/console/cases/{cases['sz']}")
    assert detail.status_code == 200
    assert "91440305MA0XMPL012" in detail.text and "广东省深圳市南山区" in detail.text


async def test_an_agents_office_must_be_in_the_directory(office: FastAPI) -> None:
    api = client_for(office)
    await make_staff(office, "root", "admin")
    admin = await token_for(api, "root")
    body = {"username": "nn1", "password": "a long enough pass phrase", "role": "agent"}
    r = await api.post("/api/v1/staff", json={**body, "office": "nowhere"}, headers=admin)
    assert r.status_code == 422 and "nowhere" in r.text
    r = await api.post("/api/v1/staff", json={**body, "office": "hz-xihu"}, headers=admin)
    assert r.status_code == 201 and r.json()["office"] == "hz-xihu"
    me = await api.get("/api/v1/me", headers=await token_for(api, "hz1"))
    assert me.json()["office"] == "hz-xihu"
