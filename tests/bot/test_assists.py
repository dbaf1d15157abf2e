"""Assistance requests (协查) between offices in the console: asked from a case page, seen by
both offices with their due date, answered, closed by the asking side, audited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text

from bot.settings import Settings
from bot.staff.models import AuditEntry
from integrations.credit.sample import code
from tests.bot.backoffice_helpers import (
    Clock,
    console_login,
    csrf_of,
    make_staff,
    office_app,
    submit_case,
)

pytestmark = pytest.mark.databases("sqlite")

NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
SHENZHEN_SHOP = {
    "product": "充电宝",
    "platform": "淘宝",
    "amount": 89,
    "merchant": f"星河数码 {code('440305', 'MA0XMPL01')}",
}
QUESTION = "请核实该企业在贵辖区的实际经营地址，联系人张三 13800000000"


@pytest.fixture
async def office(sqlite_settings: Settings) -> AsyncIterator[FastAPI]:
    async with office_app(sqlite_settings, clock=Clock(NOW)) as app:
        await make_staff(app, "sz1", "agent", office="sz-nanshan")
        await make_staff(app, "hz1", "agent", office="hz-xihu")
        await make_staff(app, "cd1", "agent", office="cd-wuhou")
        yield app


async def signed_in(app: FastAPI, username: str) -> tuple[httpx.AsyncClient, str]:
    client = await console_login(app, username)
    home = await client.get("/console/assists")
    return client, csrf_of(home.text)


async def test_two_offices_work_a_request_through(office: FastAPI) -> None:
    case_no = await submit_case(office, at=NOW, fields=SHENZHEN_SHOP)
    sz, sz_csrf = await signed_in(office, "sz1")
    hz, hz_csrf = await signed_in(office, "hz1")
    cd, _ = await signed_in(office, "cd1")

    page = await sz.get(f"/console/cases/{case_no}")
    assert 'id="assist-ask"' in page.text
    # The form proposes 5 working days (the rules' convention): Friday 11-27 → 12-04.
    assert 'value="2026-12-04"' in page.text
    asked = await sz.post(
        f"/console/cases/{case_no}/assists",
        data={
            "csrf": sz_csrf,
            "office": "hz-xihu",
            "subject": "星河数码 经营地址",
            "due": "2026-12-04",
            "text": QUESTION,
        },
    )
    assert asked.status_code == 303
    thread_url = asked.headers["location"]
    request_id = thread_url.rsplit("/", 1)[1]

    # The asked office sees it in its list with the due date, and the thread, not the case.
    listed = await hz.get("/console/assists")
    incoming = listed.text.split('id="incoming"')[1].split("</table>")[0]
    assert f"#{request_id}" in incoming and "2026-12-04" in incoming and "待回复" in incoming
    thread = await hz.get(thread_url)
    assert QUESTION in thread.text and "星河数码 经营地址" in thread.text
    assert f'href="/console/cases/{case_no}"' not in thread.text
    assert (await hz.get(f"/console/cases/{case_no}")).status_code == 404
    assert 'id="assist-close"' not in thread.text  # the asking side ends it
    # A third office sees nothing of it.
    assert (await cd.get(thread_url)).status_code == 404
    assert f"#{request_id}" not in (await cd.get("/console/assists")).text

    empty = await hz.post(f"{thread_url}/reply", data={"csrf": hz_csrf, "text": "  "})
    assert empty.status_code == 200 and 'role="alert"' in empty.text
    answered = await hz.post(
        f"{thread_url}/reply", data={"csrf": hz_csrf, "text": "经核实，该企业已迁至西湖区文三路。"}
    )
    assert answered.status_code == 303
    assert (await hz.post(f"{thread_url}/close", data={"csrf": hz_csrf})).status_code == 403

    # The asking office reads the answer on the thread and on its case page.
    mine = await sz.get(thread_url)
    assert "经核实，该企业已迁至西湖区文三路。" in mine.text and "已回复" in mine.text
    outgoing = (await sz.get("/console/assists")).text.split('id="outgoing"')[1]
    assert f"#{request_id}" in outgoing.split("</table>")[0]
    case_page = (await sz.get(f"/console/cases/{case_no}")).text
    section = case_page.split('id="assists"')[1].split("</section>")[0]
    assert f"#{request_id}" in section and "已回复" in section and "杭州市西湖区" in section

    closed = await sz.post(f"{thread_url}/close", data={"csrf": sz_csrf})
    assert closed.status_code == 303
    late = await hz.post(f"{thread_url}/reply", data={"csrf": hz_csrf, "text": "补充"})
    assert late.status_code == 409
    assert f"#{request_id}" not in (await hz.get("/console/assists")).text

    async with office.state.sessions() as session:
        rows = (
            await session.execute(
                select(AuditEntry.actor, AuditEntry.action)
                .where(AuditEntry.case_no == case_no, AuditEntry.action.like("assist_%"))
                .order_by(AuditEntry.id)
            )
        ).all()
        stored = (await session.execute(text("SELECT text FROM assist_messages"))).scalars()
        raw = " ".join(str(v) for v in stored)
    assert [tuple(r) for r in rows] == [
        ("staff:sz1", "assist_request"),
        ("staff:hz1", "assist_reply"),
        ("staff:sz1", "assist_close"),
    ]
    assert "13800000000" not in raw and "西湖区文三路" not in raw  # encrypted at rest


async def test_asking_is_refused_clearly(office: FastAPI) -> None:
    case_no = await submit_case(office, at=NOW, fields=SHENZHEN_SHOP)
    sz, csrf = await signed_in(office, "sz1")
    hz, hz_csrf = await signed_in(office, "hz1")
    form = {"csrf": csrf, "subject": "星河数码", "text": QUESTION, "due": "2026-12-04"}
    own = await sz.post(f"/console/cases/{case_no}/assists", data={**form, "office": "sz-nanshan"})
    assert own.status_code == 422 and "本案承办单位" in own.text
    past = await sz.post(
        f"/console/cases/{case_no}/assists", data={**form, "office": "hz-xihu", "due": "2026-11-01"}
    )
    assert past.status_code == 422 and "不能早于今天" in past.text
    unknown = await sz.post(f"/console/cases/{case_no}/assists", data={**form, "office": "x"})
    assert unknown.status_code == 422 and "名录" in unknown.text
    # Only who sees the case asks on it.
    other = await hz.post(
        f"/console/cases/{case_no}/assists", data={**form, "csrf": hz_csrf, "office": "cd-wuhou"}
    )
    assert other.status_code == 404
