"""Reward payout for an anonymous reporter: staff see the identity code, never the password,
and check the password the reporter gives, through the API and the console (audited)."""

from __future__ import annotations

import pytest

from bot.settings import Settings
from bot.staff.passwords import hash_report_password
from tests.bot.backoffice_helpers import (
    Clock,
    client_for,
    make_staff,
    office_app,
    submit_case,
    token_for,
)
from tests.bot.test_api_console import csrf_of, login

ANONYMOUS = {
    "target_name": "假货仓库",
    "violation": "counterfeit_brand",
    "identity": "anonymous",
    "reward": True,
    "facts": "卖假茅台",
}


@pytest.mark.databases("sqlite", "postgres")
async def test_staff_check_the_report_password_given_at_payout(settings: Settings) -> None:
    async with office_app(settings, clock=Clock()) as app, client_for(app) as client:
        await make_staff(app, "zhang", "supervisor")
        await make_staff(app, "li", "agent")
        case_no = await submit_case(
            app,
            kind="report",
            fields=dict(ANONYMOUS),
            personal={"report_password": hash_report_password("月光下的7只猫")},
        )
        boss = await token_for(client, "zhang")
        detail = (await client.get(f"/api/v1/cases/{case_no}", headers=boss)).json()
        code = detail["fields"]["identity_code"]
        assert code.startswith("NM") and len(code) == 10
        assert "$argon2" not in str(detail) and detail["report_password_set"] is True
        url = f"/api/v1/cases/{case_no}/report-password"
        right = await client.post(url, headers=boss, json={"password": "月光下的7只猫"})
        assert right.status_code == 200 and right.json() == {
            "case_no": case_no,
            "identity_code": code,
            "matches": True,
        }
        wrong = await client.post(url, headers=boss, json={"password": "月光下的8只猫"})
        assert wrong.json()["matches"] is False
        agent = await token_for(client, "li")
        assert (await client.post(url, headers=agent, json={"password": "x"})).status_code == 403
        audit = (await client.get(f"/api/v1/audit?case_no={case_no}", headers=boss)).json()
        checks = [e for e in audit["items"] if e["action"] == "verify_report_password"]
        assert sorted(e["detail"]["matches"] for e in checks) == [False, True]

        await login(client, "zhang")
        page = await client.get(f"/console/cases/{case_no}")
        assert code in page.text and "核对举报密码" in page.text and "$argon2" not in page.text
        shown = await client.post(
            f"/console/cases/{case_no}/report-password",
            data={"csrf": csrf_of(page.text), "password": "月光下的7只猫"},
        )
        assert "举报密码核对一致" in shown.text
        shown = await client.post(
            f"/console/cases/{case_no}/report-password",
            data={"csrf": csrf_of(page.text), "password": "wrong-one"},
        )
        assert "举报密码不一致" in shown.text


@pytest.mark.databases("sqlite")
async def test_a_report_without_a_password_has_nothing_to_check(settings: Settings) -> None:
    async with office_app(settings, clock=Clock()) as app, client_for(app) as client:
        await make_staff(app, "zhang", "supervisor")
        case_no = await submit_case(app, kind="report")
        boss = await token_for(client, "zhang")
        r = await client.post(
            f"/api/v1/cases/{case_no}/report-password", headers=boss, json={"password": "abc"}
        )
        assert r.status_code == 409 and r.json()["error"] == "no_report_password"
