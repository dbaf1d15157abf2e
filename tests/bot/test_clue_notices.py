"""Clue notices (线索通报): reports filed in one region about a business registered in another
show up in the registering office's queue, one notice per business with every report linked;
acknowledging or dismissing one is audited, and a later report opens it again."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from bot.business.clues import ClueNotice
from bot.settings import Settings
from bot.staff.models import AuditEntry
from integrations.credit.sample import code
from tests.bot.backoffice_helpers import (
    console_login,
    csrf_of,
    make_staff,
    office_app,
    submit_case,
)

pytestmark = pytest.mark.databases("sqlite")

SZ_CODE = code("440305", "MA0XMPL01")  # registered in Shenzhen Nanshan (sz-nanshan)


def report(place: str, target: str = f"星河数码 {SZ_CODE}") -> dict[str, Any]:
    return {
        "target_name": target,
        "target_location": place,
        "violation": "counterfeit_brand",
        "identity": "anonymous",
        "facts": "店里卖假耐克鞋",
    }


@pytest.fixture
async def office(sqlite_settings: Settings) -> AsyncIterator[FastAPI]:
    async with office_app(sqlite_settings) as app:
        await make_staff(app, "sz1", "agent", office="sz-nanshan")
        await make_staff(app, "hz1", "agent", office="hz-xihu")
        await make_staff(app, "boss", "supervisor")
        yield app


async def console(app: FastAPI, username: str) -> tuple[httpx.AsyncClient, str]:
    client = await console_login(app, username)
    queue = await client.get("/console/queue")
    return client, csrf_of(queue.text)


def notice_ids(html: str) -> list[str]:
    return re.findall(r'data-notice="(\d+)"', html)


async def notices(app: FastAPI) -> list[ClueNotice]:
    async with app.state.sessions() as session:
        return list((await session.execute(select(ClueNotice).order_by(ClueNotice.id))).scalars())


async def test_reports_elsewhere_notify_the_registering_office_once_per_business(
    office: FastAPI,
) -> None:
    hangzhou = await submit_case(
        office, kind="report", sender="1", fields=report("杭州市西湖区文三路1号")
    )
    shanghai = await submit_case(
        office, kind="report", sender="2", fields=report("上海市浦东新区世纪大道100号")
    )
    # Conduct where the business is registered: the office has the report itself.
    await submit_case(office, kind="report", sender="3", fields=report("深圳市南山区科技园1号"))
    # A complaint goes to the registering office anyway: no notice.
    await submit_case(
        office,
        sender="4",
        fields={"product": "鞋", "platform": "淘宝", "merchant": f"星河数码 {SZ_CODE}"},
    )
    # Identified by its registered address only (Futian: the Shenzhen city office, sz).
    futian = await submit_case(
        office,
        kind="report",
        sender="5",
        fields=report(
            "杭州市西湖区文三路9号",
            target="深圳市福田区某某贸易有限公司 住所：深圳市福田区华强北路1002号",
        ),
    )
    stored = await notices(office)
    assert [(n.office, n.uscc, n.status) for n in stored] == [
        ("sz-nanshan", SZ_CODE, "open"),
        ("sz", None, "open"),
    ]
    assert [r["case_no"] for r in stored[0].reports] == [hangzhou, shanghai]
    assert [r["office"] for r in stored[0].reports] == ["hz-xihu", "sh-pudong"]
    assert [r["case_no"] for r in stored[1].reports] == [futian]
    assert stored[1].name == "深圳市福田区某某贸易有限公司" and stored[1].region_code == "440304"

    sz1, _ = await console(office, "sz1")
    page = (await sz1.get("/console/queue")).text
    assert "线索通报" in page and hangzhou in page and shanghai in page and futian not in page
    hz1, hz_csrf = await console(office, "hz1")
    assert "线索通报" not in (await hz1.get("/console/queue")).text
    boss, _ = await console(office, "boss")
    everything = (await boss.get("/console/queue")).text
    assert len(notice_ids(everything)) == 2
    assert notice_ids((await boss.get("/console/queue?office=hz-xihu")).text) == []


async def test_dismissing_and_acknowledging_are_audited_and_a_new_report_reopens(
    office: FastAPI,
) -> None:
    first = await submit_case(
        office, kind="report", sender="1", fields=report("杭州市西湖区文三路1号")
    )
    sz1, csrf = await console(office, "sz1")
    [notice] = notice_ids((await sz1.get("/console/queue")).text)
    # Another office's agent cannot decide it: as unknown as a wrong number.
    hz1, hz_csrf = await console(office, "hz1")
    r = await hz1.post(f"/console/clues/{notice}/dismiss", data={"csrf": hz_csrf})
    assert r.status_code == 404
    r = await sz1.post(f"/console/clues/{notice}/shred", data={"csrf": csrf})
    assert r.status_code == 422
    r = await sz1.post(
        f"/console/clues/{notice}/dismiss",
        data={"csrf": csrf, "note": "该店已注销，移交原登记机关"},
    )
    assert r.status_code == 303
    assert notice_ids((await sz1.get("/console/queue")).text) == []
    again = await sz1.post(f"/console/clues/{notice}/dismiss", data={"csrf": csrf})
    assert again.status_code == 409

    second = await submit_case(
        office, kind="report", sender="2", fields=report("上海市浦东新区世纪大道100号")
    )
    [reopened] = await notices(office)
    assert reopened.status == "open" and [r["case_no"] for r in reopened.reports] == [
        first,
        second,
    ]
    boss, boss_csrf = await console(office, "boss")
    r = await boss.post(f"/console/clues/{notice}/acknowledge", data={"csrf": boss_csrf})
    assert r.status_code == 303
    async with office.state.sessions() as session:
        rows = (
            await session.execute(
                select(AuditEntry)
                .where(AuditEntry.target == f"clue:{notice}")
                .order_by(AuditEntry.id)
            )
        ).scalars()
        audit = [(a.actor, a.action, a.reason, a.detail["reports"]) for a in rows]
    assert audit == [
        ("staff:sz1", "clue_dismissed", "该店已注销，移交原登记机关", [first]),
        ("staff:boss", "clue_acknowledged", "", [first, second]),
    ]


async def test_same_named_shops_in_two_cities_are_proposed_to_staff_not_merged(
    office: FastAPI,
) -> None:
    shenzhen = await submit_case(
        office,
        kind="report",
        sender="1",
        fields=report("深圳市福田区华强北路1002号", target="华为专卖店"),
    )
    hangzhou = await submit_case(
        office,
        kind="report",
        sender="2",
        fields=report("杭州市西湖区文三路259号", target="华为专卖店"),
    )
    boss, _ = await console(office, "boss")
    page = (await boss.get(f"/console/cases/{hangzhou}")).text
    proposal = re.search(r'<span class="possible-duplicates">(.*?)</span>', page, re.S)
    assert proposal and shenzhen in proposal[1] and "未自动合并" in proposal[1]
    assert "合并（同一经营主体）" not in page
