"""Time for testing, 鉴定 or the right-holder's identification does not count towards a report's
verification deadline (行政处罚程序规定 Art. 18 ¶2): staff record a pause and the date moves."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bot.deadlines import paused, restarted_on_forward
from bot.settings import Settings
from tests.bot.backoffice_helpers import (
    Clock,
    client_for,
    make_staff,
    office_app,
    submit_case,
    token_for,
)
from tests.bot.test_api_console import csrf_of, login

NOV27 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)  # a Friday; 15 working days end 2026-12-18


def test_a_pause_adds_back_its_working_days_only() -> None:
    # Tue 1 Dec to Mon 7 Dec: five working days (the weekend does not count).
    moved = paused(date(2026, 12, 18), date(2026, 12, 1), date(2026, 12, 7))
    assert (moved.due, moved.working_days) == (date(2026, 12, 25), 5)
    # A pause after the deadline moves nothing.
    assert paused(date(2026, 12, 18), date(2026, 12, 21), date(2026, 12, 22)).due == date(
        2026, 12, 18
    )


def test_a_forwarded_complaint_starts_its_clock_again() -> None:
    # Received by the office with jurisdiction on Mon 7 Dec: 7 working days from then.
    assert restarted_on_forward(datetime(2026, 12, 7, 2, 0, tzinfo=UTC)).due == date(2026, 12, 16)


@pytest.mark.databases("sqlite", "postgres")
async def test_staff_record_a_pause_and_the_deadline_moves(settings: Settings) -> None:
    clock = Clock(datetime(2026, 12, 8, 2, 0, tzinfo=UTC))
    async with office_app(settings, clock=clock) as app, client_for(app) as client:
        await make_staff(app, "sup", "supervisor")
        sup = await token_for(client, "sup")
        case_no = await submit_case(app, kind="report", at=NOV27, channel="rest", sender="web-9")
        before = (await client.get(f"/api/v1/cases/{case_no}", headers=sup)).json()
        assert before["next_deadline"] == "2026-12-18"
        url = f"/api/v1/cases/{case_no}/actions"
        pause = {"action": "pause", "reason": "appraisal", "first": "2026-12-01"}
        r = await client.post(url, json={**pause, "last": "2026-12-04"}, headers=sup)
        assert r.status_code == 200, r.text
        assert r.json()["next_deadline"] == "2026-12-24"  # four working days added back
        detail = (await client.get(f"/api/v1/cases/{case_no}", headers=sup)).json()
        [verification] = detail["deadlines"]
        assert verification["due"] == "2026-12-24" and "鉴定" in verification["rule"]
        [event] = [e for e in detail["events"] if e["kind"] == "paused"]
        assert event["detail"]["working_days"] == 4 and event["detail"]["reason"] == "appraisal"
        pushes = (
            await client.get("/api/v1/../../webhooks/rest/pushes", params={"sender": "web-9"})
        ).json()
        assert any("需要鉴定" in p["text"] and "顺延至 2026-12-24" in p["text"] for p in pushes)
        # A reason outside Art. 18 ¶2, or a pause ending before it starts, moves nothing.
        wrong = await client.post(
            url, json={**pause, "reason": "holiday", "last": "2026-12-04"}, headers=sup
        )
        assert wrong.status_code == 422 and wrong.json()["error"] == "reason_required"
        backwards = await client.post(url, json={**pause, "last": "2026-11-30"}, headers=sup)
        assert backwards.status_code == 422 and backwards.json()["error"] == "invalid_pause"
        after = (await client.get(f"/api/v1/cases/{case_no}", headers=sup)).json()
        assert after["next_deadline"] == "2026-12-24"

        await login(client, "sup")
        page = await client.get(f"/console/cases/{case_no}")
        assert "记录暂停" in page.text and "不计入核查期限" in page.text
        r = await client.post(
            f"/console/cases/{case_no}/transition",
            data={
                "csrf": csrf_of(page.text),
                "to": "pause",
                "reason": "right_holder",
                "first": "2026-12-07",
                "last": "2026-12-07",
            },
        )
        assert r.status_code == 303
        page = await client.get(f"/console/cases/{case_no}")
        assert "权利人辨认 2026-12-07 至 2026-12-07" in page.text
        assert "期限顺延至 2026-12-25" in page.text
