"""Forwarding a case to another region's office (分送/移送): status, office, the deadline that
restarts on receipt there, the consumer's notice, who may do it, and the status question."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from bot.db.models import OutboxMessage
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
from tests.factories import chat_for

pytestmark = pytest.mark.databases("sqlite")

# Filed on Friday 2026-11-20, forwarded on Friday 2026-11-27 (Beijing time): 7 working days
# from receipt by the Hangzhou office end on Tuesday 2026-12-08, not 12-01 as first counted.
FILED = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
FORWARDED = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
SHENZHEN_SHOP = {
    "product": "充电宝",
    "platform": "淘宝",
    "amount": 89,
    "merchant": f"星河数码 {code('440305', 'MA0XMPL01')}",
}
HANGZHOU_XIHU = "杭州市西湖区市场监督管理局（示例 SAMPLE）"


@pytest.fixture
async def office(sqlite_settings: Settings) -> AsyncIterator[FastAPI]:
    async with office_app(sqlite_settings, clock=Clock(FORWARDED)) as app:
        await make_staff(app, "sz1", "agent", office="sz-nanshan")
        await make_staff(app, "hz1", "agent", office="hz-xihu")
        await make_staff(app, "boss", "supervisor")
        yield app


async def pushes(app: FastAPI) -> list[str]:
    async with app.state.sessions() as session:
        rows = (
            await session.execute(
                select(OutboxMessage)
                .where(OutboxMessage.topic == "reply:telegram")
                .order_by(OutboxMessage.id)
            )
        ).scalars()
        return [str(r.payload["text"]) for r in rows]


async def test_forward_moves_the_case_restarts_its_clock_and_tells_the_consumer(
    office: FastAPI,
) -> None:
    case_no = await submit_case(office, at=FILED, fields=SHENZHEN_SHOP)
    api = client_for(office)
    sz1, hz1 = await token_for(api, "sz1"), await token_for(api, "hz1")
    before = (await api.get(f"/api/v1/cases/{case_no}", headers=sz1)).json()
    assert before["office"] == "sz-nanshan" and before["next_deadline"] == "2026-12-01"
    assert before["may_forward"] is True
    assert (await api.get(f"/api/v1/cases/{case_no}", headers=hz1)).status_code == 404

    r = await api.post(
        f"/api/v1/cases/{case_no}/forward",
        json={"office": "hz-xihu", "reason": "seller_elsewhere", "note": "经营者实际在杭州"},
        headers=sz1,
    )
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["office"]) == ("forwarded", "hz-xihu")
    assert r.json()["next_deadline"] == "2026-12-08"

    # Now the Hangzhou office's case: its agent sees and decides it; Shenzhen's no longer does.
    assert (await api.get(f"/api/v1/cases/{case_no}", headers=sz1)).status_code == 404
    after = (await api.get(f"/api/v1/cases/{case_no}", headers=hz1)).json()
    assert after["allowed_transitions"] == ["accepted", "not_accepted"]
    [acceptance] = [d for d in after["deadlines"] if d["key"] == "complaint_acceptance"]
    assert (acceptance["due"], acceptance["met"]) == ("2026-12-08", False)
    forwarded = after["events"][-1]
    assert forwarded["kind"] == "forwarded" and forwarded["actor"] == "staff:sz1"
    assert forwarded["detail"]["from_office"] == "sz-nanshan"
    assert forwarded["detail"]["note"] == "经营者实际在杭州"

    [told] = await pushes(office)
    assert case_no in told and HANGZHOU_XIHU in told
    assert "重新计算" in told and "一般在 7 个工作日内" in told and "2026-12-08" in told
    assert "0571-0000-0001" in told  # the receiving office's line, from the directory

    accepted = await api.post(
        f"/api/v1/cases/{case_no}/transitions", json={"to": "accepted"}, headers=hz1
    )
    assert accepted.status_code == 200, accepted.text


async def test_the_consumer_is_told_in_their_language(office: FastAPI) -> None:
    case_no = await submit_case(office, at=FILED, fields=SHENZHEN_SHOP, locale="en")
    api = client_for(office)
    r = await api.post(
        f"/api/v1/cases/{case_no}/forward",
        json={"office": "hz-xihu", "reason": "seller_elsewhere"},
        headers=await token_for(api, "boss"),
    )
    assert r.status_code == 200, r.text
    [told] = await pushes(office)
    assert "forwarded to" in told and "generally made within 7 working days" in told
    assert "registered or operates in another region" in told and "2026-12-08" in told


async def test_who_may_forward_and_what_is_refused(office: FastAPI) -> None:
    api = client_for(office)
    sz1, hz1, boss = [await token_for(api, u) for u in ("sz1", "hz1", "boss")]
    case_no = await submit_case(office, at=FILED, fields=SHENZHEN_SHOP)
    url = f"/api/v1/cases/{case_no}/forward"
    body = {"office": "hz-xihu", "reason": "seller_elsewhere"}
    # Another office's agent does not see the case at all.
    assert (await api.post(url, json=body, headers=hz1)).status_code == 404
    bad_reason = await api.post(url, json={**body, "reason": "because"}, headers=sz1)
    assert bad_reason.status_code == 422 and "seller_elsewhere" in bad_reason.json()["reasons"]
    unknown = await api.post(url, json={**body, "office": "nowhere"}, headers=sz1)
    assert (unknown.status_code, unknown.json()["error"]) == (422, "unknown_office")
    same = await api.post(url, json={**body, "office": "sz-nanshan"}, headers=sz1)
    assert (same.status_code, same.json()["error"]) == (409, "same_office")
    await api.post(f"/api/v1/cases/{case_no}/transitions", json={"to": "accepted"}, headers=sz1)
    late = await api.post(url, json=body, headers=sz1)
    assert (late.status_code, late.json()["error"]) == (409, "not_forwardable")

    # A report is forwarded by a supervisor, not an agent; its verification restarts too.
    report_no = await submit_case(
        office,
        kind="report",
        at=FILED,
        sender="77",
        fields={
            "target_name": f"星河数码 {code('440305', 'MA0XMPL01')}",
            "violation": "counterfeit",
            "identity": "anonymous",
            "facts": "卖假充电宝",
        },
    )
    report_url = f"/api/v1/cases/{report_no}/forward"
    assert (await api.post(report_url, json=body, headers=sz1)).status_code == 403
    r = await api.post(report_url, json={**body, "reason": "conduct_elsewhere"}, headers=boss)
    assert r.status_code == 200, r.text
    # 15 working days from Friday 2026-11-27.
    assert (r.json()["status"], r.json()["next_deadline"]) == ("forwarded", "2026-12-18")


async def test_console_forward_from_the_case_page(office: FastAPI) -> None:
    case_no = await submit_case(office, at=FILED, fields=SHENZHEN_SHOP)
    console = await console_login(office, "sz1")
    case_page = await console.get(f"/console/cases/{case_no}")
    assert 'id="forward"' in case_page.text and HANGZHOU_XIHU in case_page.text
    assert "被投诉/举报的经营者登记地或经营地属于其他地区" in case_page.text
    token = re.search(r'name="csrf" value="([^"]+)"', case_page.text)
    assert token
    no_reason = await console.post(
        f"/console/cases/{case_no}/forward",
        data={"csrf": token.group(1), "office": "hz-xihu", "reason": ""},
    )
    assert no_reason.status_code == 200 and 'role="alert"' in no_reason.text
    done = await console.post(
        f"/console/cases/{case_no}/forward",
        data={
            "csrf": token.group(1),
            "office": "hz-xihu",
            "reason": "seller_elsewhere",
            "note": "转杭州",
        },
    )
    assert done.status_code == 200 and "已移送至" + HANGZHOU_XIHU in done.text
    assert (await console.get(f"/console/cases/{case_no}")).status_code == 404


async def test_status_question_says_where_a_forwarded_case_is(office: FastAPI) -> None:
    chat = chat_for(office)
    case_no = await submit_case(
        office, at=FILED, channel="rest", sender=chat.sender, fields=SHENZHEN_SHOP
    )
    api = client_for(office)
    r = await api.post(
        f"/api/v1/cases/{case_no}/forward",
        json={"office": "hz-xihu", "reason": "seller_elsewhere"},
        headers=await token_for(api, "sz1"),
    )
    assert r.status_code == 200, r.text
    await chat.say("我的投诉到哪了")
    assert case_no in chat.text and "已移送其他单位" in chat.text
    assert f"已于 2026-11-27 移送至{HANGZHOU_XIHU}" in chat.text
    assert "期限自该单位收到之日起重新计算" in chat.text and "2026-12-08" in chat.text
