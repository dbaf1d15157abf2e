"""The case workflow: transitions, deadlines across a holiday, pushes to the consumer's channel."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.settings import Settings
from tests.bot.backoffice_helpers import (
    ChannelDouble,
    Clock,
    client_for,
    make_staff,
    office_app,
    submit_case,
    token_for,
)

SEP29 = datetime(2026, 9, 29, 2, 0, tzinfo=UTC)  # Tuesday before the National Day holiday


async def test_complaint_to_closure_with_pushes(settings: Settings) -> None:
    clock = Clock(datetime(2026, 9, 30, 2, 0, tzinfo=UTC))
    async with office_app(settings, clock=clock) as app, client_for(app) as client:
        telegram = ChannelDouble()
        app.state.outbox.register("reply:telegram", telegram)
        await make_staff(app, "agent", "agent")
        h = await token_for(client, "agent")
        case_no = await submit_case(app, at=SEP29)
        detail = (await client.get(f"/api/v1/cases/{case_no}", headers=h)).json()
        # 7 working days after 29 Sep skips 1–7 Oct and counts Saturday 10 Oct (a make-up day).
        assert detail["next_deadline"] == "2026-10-14"
        assert detail["deadlines"][0]["key"] == "complaint_acceptance"
        assert detail["allowed_transitions"] == ["accepted", "not_accepted"]
        assert detail["personal"]["phone"] == "13512345678"  # agents work complaints in the clear

        bad = await client.post(
            f"/api/v1/cases/{case_no}/transitions", json={"to": "agreement"}, headers=h
        )
        assert bad.status_code == 409 and bad.json()["allowed"] == ["accepted", "not_accepted"]
        odd = await client.post(
            f"/api/v1/cases/{case_no}/transitions", json={"to": "flying"}, headers=h
        )
        assert odd.status_code == 422

        for to in ("accepted", "mediation", "agreement", "closed"):
            r = await client.post(
                f"/api/v1/cases/{case_no}/transitions", json={"to": to}, headers=h
            )
            assert r.status_code == 200, r.text
            if to == "accepted":
                assert r.json()["next_deadline"] == "2026-11-29"  # 60 days from acceptance
        while await app.state.outbox.run_once():  # every due row, a user's in order
            pass
        assert [r["recipient_id"] for r in telegram.received] == ["4242"] * 4
        assert telegram.texts[0].startswith(f"您的投诉 {case_no} 已受理")
        assert "已办结" in telegram.texts[-1]
        assert all(r["buttons"] == [] for r in telegram.received)
        detail = (await client.get(f"/api/v1/cases/{case_no}", headers=h)).json()
        assert [e["detail"].get("to") for e in detail["events"][1:]] == [
            "accepted",
            "mediation",
            "agreement",
            "closed",
        ]
        assert detail["allowed_transitions"] == [] and detail["next_deadline"] is None


@pytest.mark.databases("sqlite")
async def test_a_reason_not_in_the_list_is_refused_on_any_transition(settings: Settings) -> None:
    """Found by fuzzing: a reason given with another transition than a refusal was looked up
    in the rules' list and crashed the request (500). It is refused, naming the list."""
    async with office_app(settings, clock=Clock()) as app, client_for(app) as client:
        await make_staff(app, "sup", "supervisor")
        h = await token_for(client, "sup")
        case_no = await submit_case(app, at=SEP29)
        url = f"/api/v1/cases/{case_no}/transitions"
        r = await client.post(url, json={"to": "accepted", "reason": "不在列表里"}, headers=h)
        assert r.status_code == 422 and r.json()["error"] == "reason_required"
        assert "over_three_years" in r.json()["reasons"]
        r = await client.post(url, json={"to": "accepted"}, headers=h)
        assert r.status_code == 200


@pytest.mark.databases("sqlite")
async def test_not_accepted_needs_a_reason_and_speaks_english(settings: Settings) -> None:
    async with office_app(settings, clock=Clock()) as app, client_for(app) as client:
        telegram = ChannelDouble()
        app.state.outbox.register("reply:telegram", telegram)
        await make_staff(app, "sup", "supervisor")
        h = await token_for(client, "sup")
        case_no = await submit_case(app, at=SEP29, locale="en", sender="777")
        url = f"/api/v1/cases/{case_no}/transitions"
        r = await client.post(url, json={"to": "not_accepted"}, headers=h)
        assert r.status_code == 422 and "over_three_years" in r.json()["reasons"]
        r = await client.post(
            url, json={"to": "not_accepted", "reason": "over_three_years"}, headers=h
        )
        assert r.status_code == 200
        while await app.state.outbox.run_once():  # every due row, a user's in order
            pass
        assert telegram.received[0]["recipient_id"] == "777"
        assert "was not accepted" in telegram.texts[0] and "three years" in telegram.texts[0]


async def test_report_verification_extension_and_overdue(settings: Settings) -> None:
    clock = Clock(datetime(2026, 10, 27, 2, 0, tzinfo=UTC))
    async with office_app(settings, clock=clock) as app, client_for(app) as client:
        await make_staff(app, "sup", "supervisor")
        await make_staff(app, "agent", "agent")
        sup, agent = await token_for(client, "sup"), await token_for(client, "agent")
        case_no = await submit_case(app, kind="report", at=SEP29, channel="rest", sender="web-1")
        listed = (await client.get("/api/v1/cases?overdue=true", headers=sup)).json()
        assert [c["case_no"] for c in listed["items"]] == [case_no]  # due 26 Oct, today 27 Oct
        assert listed["items"][0]["next_deadline"] == "2026-10-26"
        refused = await client.post(
            f"/api/v1/cases/{case_no}/transitions", json={"to": "verifying"}, headers=agent
        )
        assert refused.status_code == 403
        masked = (await client.get(f"/api/v1/cases/{case_no}", headers=agent)).json()
        assert masked["personal"]["phone"] == "135****5678" and masked["personal_masked"]
        assert masked["personal"]["name"] == "赵*"
        r = await client.post(
            f"/api/v1/cases/{case_no}/transitions", json={"to": "verifying"}, headers=sup
        )
        assert r.status_code == 200
        url = f"/api/v1/cases/{case_no}/actions"
        r = await client.post(url, json={"action": "extend_verification"}, headers=sup)
        assert r.status_code == 200, r.text
        assert r.json()["next_deadline"] == "2026-11-16"
        assert not r.json()["overdue"]
        again = await client.post(url, json={"action": "extend_verification"}, headers=sup)
        assert again.status_code == 409 and again.json()["error"] == "already_extended"
        clock.at = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
        sup = await token_for(client, "sup")
        r = await client.post(
            f"/api/v1/cases/{case_no}/transitions", json={"to": "case_opened"}, headers=sup
        )
        assert r.status_code == 200, r.text
        # A web user cannot be pushed to: the real-name notice (5 working days) is staff's to do.
        assert r.json()["next_deadline"] == "2026-11-09"
        detail = (await client.get(f"/api/v1/cases/{case_no}", headers=sup)).json()
        assert [d["key"] for d in detail["deadlines"]] == ["report_verification", "reporter_notice"]
        pushes = (
            await client.get("/api/v1/../../webhooks/rest/pushes", params={"sender": "web-1"})
        ).json()
        assert any("已立案" in p["text"] for p in pushes)
        r = await client.post(
            url, json={"action": "reporter_notified", "note": "电话告知"}, headers=sup
        )
        assert r.status_code == 200 and r.json()["next_deadline"] is None


@pytest.mark.databases("sqlite")
async def test_reveal_is_audited(settings: Settings) -> None:
    from sqlalchemy import select

    from bot.staff.models import AuditEntry

    async with office_app(settings, clock=Clock()) as app, client_for(app) as client:
        await make_staff(app, "sup", "supervisor")
        sup = await token_for(client, "sup")
        case_no = await submit_case(app, kind="report", at=SEP29)
        short = await client.post(
            f"/api/v1/cases/{case_no}/reveal", json={"reason": "x"}, headers=sup
        )
        assert short.status_code == 422
        r = await client.post(
            f"/api/v1/cases/{case_no}/reveal", json={"reason": "奖励发放需要核实身份"}, headers=sup
        )
        assert r.json()["personal"]["phone"] == "13512345678"
        async with app.state.sessions() as session:
            stmt = select(AuditEntry).where(AuditEntry.case_no == case_no)
            rows = list((await session.execute(stmt)).scalars())
        assert [(a.actor, a.action, a.target, a.reason) for a in rows] == [
            ("staff:sup", "reveal_reporter", case_no, "奖励发放需要核实身份")
        ]
        missing = await client.get("/api/v1/cases/TS20260101000001", headers=sup)
        assert missing.status_code == 404
        malformed = await client.get("/api/v1/cases/XX1", headers=sup)
        assert malformed.status_code == 422
