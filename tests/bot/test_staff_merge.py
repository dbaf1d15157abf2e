"""Staff merge a report into an earlier one proposed at filing as maybe the same target (a
same-named shop in another or an unknown region is never merged by itself): the case says what
it was merged into, both reporters are told (the first keeps their place for a reward), the
back office gets ``case.merged``, and every merge the rules forbid is refused with a reason."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from bot.cases import get_case
from bot.db.models import Case, OutboxMessage
from bot.settings import Settings
from tests.bot.backoffice_helpers import (
    client_for,
    console_login,
    csrf_of,
    make_staff,
    office_app,
    submit_case,
    token_for,
)

pytestmark = pytest.mark.databases("sqlite", "postgres")
SHOP = "华为专卖店"


def report(place: str, target: str = SHOP) -> dict[str, Any]:
    return {
        "target_name": target,
        "target_location": place,
        "violation": "counterfeit_brand",
        "identity": "anonymous",
        "facts": "店里卖假手机",
    }


@pytest.fixture
async def office(settings: Settings) -> AsyncIterator[FastAPI]:
    # A back office is set, so what the merge hands off is queued (not sent: no outbox runs).
    async with office_app(settings, url="https://backoffice.example/cases") as app:
        await make_staff(app, "li", "agent")
        await make_staff(app, "boss", "supervisor")
        yield app


async def two_cities(app: FastAPI) -> tuple[str, str]:
    """The same shop name reported in Shenzhen, then in Hangzhou: proposed, not merged."""
    shenzhen = await submit_case(
        app, kind="report", sender="1", fields=report("深圳市福田区华强北路1002号")
    )
    hangzhou = await submit_case(
        app, kind="report", sender="2", fields=report("杭州市西湖区文三路259号")
    )
    return shenzhen, hangzhou


async def case(app: FastAPI, case_no: str) -> Case:
    async with app.state.sessions() as session:
        found = await get_case(session, case_no)
        assert found is not None
        return found


async def pushes_to(app: FastAPI, sender: str) -> list[str]:
    async with app.state.sessions() as session:
        rows = (
            await session.execute(
                select(OutboxMessage)
                .where(OutboxMessage.topic == "reply:telegram")
                .order_by(OutboxMessage.id)
            )
        ).scalars()
        return [str(r.payload["text"]) for r in rows if r.payload["recipient_id"] == sender]


async def handed_off(app: FastAPI, case_no: str) -> list[str]:
    async with app.state.sessions() as session:
        keys = (
            await session.execute(
                select(OutboxMessage.key).where(OutboxMessage.topic == "backoffice")
            )
        ).scalars()
        return [k for k in keys if case_no in k]


async def test_a_supervisor_merges_a_proposed_report_and_both_reporters_are_told(
    office: FastAPI,
) -> None:
    shenzhen, hangzhou = await two_cities(office)
    boss = await console_login(office, "boss")
    page = (await boss.get(f"/console/cases/{hangzhou}")).text
    forms = re.findall(
        r'action="/console/cases/(\w+)/merge".*?name="into" value="(\w+)"', page, re.S
    )
    assert forms == [(hangzhou, shenzhen)]
    assert f"确认与 {shenzhen} 为同一对象" in page
    first_heard, later_heard = len(await pushes_to(office, "1")), len(await pushes_to(office, "2"))

    r = await boss.post(
        f"/console/cases/{hangzhou}/merge",
        data={"csrf": csrf_of(page), "into": shenzhen, "note": "同一店铺，核对了链接"},
    )
    assert r.status_code == 303 and r.headers["location"] == f"/console/cases/{hangzhou}"

    merged, first = await case(office, hangzhou), await case(office, shenzhen)
    assert merged.duplicate_of_id == first.id and merged.status == "submitted"
    [event] = [e for e in merged.events if e.kind == "merged"]
    assert (event.actor, event.detail) == (
        "staff:boss",
        {"into": shenzhen, "note": "同一店铺，核对了链接"},
    )
    [told] = [e for e in first.events if e.kind == "report_merged_in"]
    assert told.detail == {"case_no": hangzhou}
    # The first reporter keeps their place for a reward; the later one hears theirs is
    # checked with an earlier report. Neither is told the other's number.
    [to_first] = (await pushes_to(office, "1"))[first_heard:]
    assert shenzhen in to_first and "最先登记" in to_first and hangzhou not in to_first
    [to_later] = (await pushes_to(office, "2"))[later_heard:]
    assert hangzhou in to_later and "更早登记" in to_later and shenzhen not in to_later
    assert f"{hangzhou}:event.{event.id}" in "\n".join(await handed_off(office, hangzhou))

    page = (await boss.get(f"/console/cases/{hangzhou}")).text
    assert re.search(rf'id="merged-into"><a href="/console/cases/{shenzhen}">', page)
    assert "/merge" not in page  # nothing left to merge
    assert "经核实并入先登记的举报" in page and page.count("同一店铺，核对了链接") == 1
    first_page = (await boss.get(f"/console/cases/{shenzhen}")).text
    assert f'后来的举报 <a href="/console/cases/{hangzhou}">{hangzhou}</a> 已并入本案' in first_page


async def test_merges_the_rules_forbid_are_refused_with_a_reason(office: FastAPI) -> None:
    shenzhen, hangzhou = await two_cities(office)
    third = await submit_case(
        office, kind="report", sender="3", fields=report("成都市武侯区人民南路4段1号")
    )
    complaint = await submit_case(office, sender="4")
    api = client_for(office)
    boss, li = await token_for(api, "boss"), await token_for(api, "li")

    async def merge(case_no: str, into: str, who: dict[str, str] = boss) -> httpx.Response:
        return await api.post(f"/api/v1/cases/{case_no}/merge", json={"into": into}, headers=who)

    def refused(r: httpx.Response) -> tuple[int, str]:
        return r.status_code, r.json()["error"]

    # Reports are worked by supervisors; an agent may not merge one.
    assert (await merge(hangzhou, shenzhen, li)).status_code == 403
    # The earlier report never goes into the later one: the first reporter keeps their place.
    assert refused(await merge(shenzhen, hangzhou)) == (409, "not_earlier")
    assert refused(await merge(hangzhou, hangzhou)) == (422, "same_case")
    assert refused(await merge(complaint, shenzhen)) == (422, "not_mergeable")
    assert refused(await merge(hangzhou, "JB20990101000001")) == (422, "unknown_case")
    assert refused(
        await api.post(f"/api/v1/cases/{hangzhou}/merge", json={"into": complaint}, headers=boss)
    ) == (422, "invalid_request")

    done = await merge(hangzhou, shenzhen)
    assert done.status_code == 200 and done.json()["duplicate_of"] == shenzhen
    assert refused(await merge(hangzhou, shenzhen)) == (409, "already_merged")
    # Into a report that is itself merged: merge into the one it went into.
    assert refused(await merge(third, hangzhou)) == (409, "into_merged")

    # A report decided without a case is no longer open, and is no longer merged into.
    for to in ("verifying", "not_opened"):
        r = await api.post(f"/api/v1/cases/{shenzhen}/transitions", json={"to": to}, headers=boss)
        assert r.status_code == 200, r.text
    assert refused(await merge(third, shenzhen)) == (409, "not_open")
    assert (await case(office, third)).duplicate_of_id is None

    # The console shows the refusal in Chinese on the case page.
    console = await console_login(office, "boss")
    page = (await console.get(f"/console/cases/{third}")).text
    r = await console.post(
        f"/console/cases/{third}/merge", data={"csrf": csrf_of(page), "into": shenzhen}
    )
    assert r.status_code == 200 and "不能合并" in r.text


async def test_two_supervisors_merging_at_once_merge_once(office: FastAPI) -> None:
    """The second waits for the first's row locks, then finds the report already merged:
    one merge, one notice to each reporter, one hand-off."""
    shenzhen, hangzhou = await two_cities(office)
    await make_staff(office, "boss2", "supervisor")
    api = client_for(office)
    boss, boss2 = await token_for(api, "boss"), await token_for(api, "boss2")
    heard = len(await pushes_to(office, "1"))
    answers = await asyncio.gather(
        *(
            api.post(f"/api/v1/cases/{hangzhou}/merge", json={"into": shenzhen}, headers=who)
            for who in (boss, boss2)
        )
    )
    assert sorted(r.status_code for r in answers) == [200, 409]
    assert {r.json().get("error") for r in answers} == {None, "already_merged"}
    merged = await case(office, hangzhou)
    assert len([e for e in merged.events if e.kind == "merged"]) == 1
    assert len((await pushes_to(office, "1"))[heard:]) == 1
    assert len(await handed_off(office, hangzhou)) == 2  # submitted, merged
