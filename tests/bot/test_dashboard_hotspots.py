"""The dashboard's hotspots (by region and by business, per week or month) and its office
narrowing: an office's agent sees their office's figures; supervisors choose an office."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from bot.settings import Settings
from integrations.credit.sample import code
from tests.bot.backoffice_helpers import (
    Clock,
    client_for,
    console_login,
    make_staff,
    office_app,
    submit_case,
    token_for,
)

pytestmark = pytest.mark.databases("sqlite")

SZ_CODE = code("440305", "MA0XMPL01")
COMPLAINT = {"product": "充电宝", "platform": "淘宝", "amount": 89}
LAST_WEEK = datetime(2026, 11, 18, 2, 0, tzinfo=UTC)  # the week from Monday 16 November
THIS_WEEK = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # the week from Monday 23 November


@pytest.fixture
async def office(sqlite_settings: Settings) -> AsyncIterator[FastAPI]:
    async with office_app(sqlite_settings, clock=Clock()) as app:
        await make_staff(app, "hz1", "agent", office="hz-xihu")
        await make_staff(app, "boss", "supervisor")
        n = 0

        async def file(kind: str, at: datetime, fields: dict[str, Any]) -> None:
            nonlocal n
            n += 1
            await submit_case(app, kind=kind, at=at, sender=str(n), fields=fields)

        shenzhen = {**COMPLAINT, "merchant": f"星河数码 {SZ_CODE}"}
        await file("complaint", LAST_WEEK, shenzhen)
        await file("complaint", THIS_WEEK, shenzhen)
        await file(
            "report",
            THIS_WEEK,
            {
                "target_name": f"星河数码 {SZ_CODE}",
                "target_location": "深圳市南山区科技园1号",
                "violation": "counterfeit_brand",
                "identity": "anonymous",
                "facts": "卖假货",
            },
        )
        # Two shops of one name in two cities are two businesses.
        for address in ("杭州市西湖区文三路1号", "深圳市福田区华强北路1002号"):
            await file(
                "complaint",
                THIS_WEEK,
                {**COMPLAINT, "merchant": "华为专卖店", "merchant_address": address},
            )
        yield app


async def dashboard(api: httpx.AsyncClient, auth: dict[str, str], query: str = "") -> Any:
    r = await api.get(f"/api/v1/dashboard{query}", headers=auth)
    assert r.status_code == 200, r.text
    return r.json()


async def test_hotspots_by_business_and_region_over_weeks(office: FastAPI) -> None:
    api = client_for(office)
    boss = await token_for(api, "boss")
    data = await dashboard(api, boss)
    hot = data["hotspots"]
    assert hot["period"] == "week" and hot["periods"][-2:] == ["2026-11-16", "2026-11-23"]
    top = hot["businesses_by_complaints"][0]
    # Identified by its credit code: the report and both complaints are one business.
    assert top["uscc"] == SZ_CODE and top["count"] == 2
    assert top["series"][-2:] == [1, 1] and (top["complaints"], top["reports"]) == (2, 1)
    [reported] = hot["businesses_by_reports"]
    assert reported["uscc"] == SZ_CODE and reported["count"] == 1
    huawei = [b for b in hot["businesses_by_complaints"] if b["name"] == "华为专卖店"]
    assert sorted(b["region"] for b in huawei) == ["广东省深圳市福田区", "浙江省杭州市西湖区"]
    assert all(b["count"] == 1 and b["uscc"] is None for b in huawei)
    regions = {r["name"]: r["count"] for r in hot["regions"]}
    assert regions["广东省深圳市南山区"] == 3 and regions["浙江省杭州市西湖区"] == 1
    assert data["by_category"]["假冒品牌"] == 1 and "counterfeit_brand" not in data["by_category"]

    monthly = (await dashboard(api, boss, "?period=month"))["hotspots"]
    assert monthly["periods"][-1] == "2026-11-01"
    assert monthly["businesses_by_complaints"][0]["series"][-1] == 2
    assert (await api.get("/api/v1/dashboard?period=day", headers=boss)).status_code == 422


async def test_an_office_agent_sees_their_office_and_supervisors_choose(office: FastAPI) -> None:
    api = client_for(office)
    hz1, boss = await token_for(api, "hz1"), await token_for(api, "boss")
    mine = await dashboard(api, hz1)
    assert mine["office"] == "hz-xihu" and mine["total"] == 1
    names = [b["name"] for b in mine["hotspots"]["businesses_by_complaints"]]
    assert names == ["华为专卖店"]
    # Asking for another office does not widen an agent's view.
    assert (await dashboard(api, hz1, "?office=sz-nanshan"))["office"] == "hz-xihu"
    everything = await dashboard(api, boss)
    assert everything["office"] is None and everything["total"] == 5
    nanshan = await dashboard(api, boss, "?office=sz-nanshan")
    assert nanshan["total"] == 3 and nanshan["hotspots"]["regions"][0]["region"] == "440305"

    console = await console_login(office, "hz1")
    html = (await console.get("/console/dashboard?office=sz-nanshan")).text
    assert "本单位：hz-xihu" in html and "华为专卖店" in html and "星河数码" not in html
