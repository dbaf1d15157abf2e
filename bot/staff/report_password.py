"""Reward payout for an anonymous reporter: staff check the report password the reporter gives.

The reporter set the password in the report form and kept the identity code shown at
submission (国市监稽规〔2021〕4号; FACTS §2). Only an Argon2 hash is stored, so staff can check a
password but never read one; every check goes to the audit log with its result.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Case
from bot.staff import audit
from bot.staff.accounts import Staff
from bot.staff.passwords import verify_password_off_loop

FIELD = "report_password"


def has_password(case: Case) -> bool:
    return bool((case.personal or {}).get(FIELD))


async def check(
    session: AsyncSession, case: Case, password: str, *, staff: Staff, now: datetime
) -> bool:
    """Whether ``password`` is the one the reporter set; audited either way."""
    stored = (case.personal or {}).get(FIELD)
    matches = await verify_password_off_loop(stored, password) if stored else False
    await audit.log(
        session,
        actor=staff.actor,
        action="verify_report_password",
        case_no=case.case_no,
        conversation_id=case.conversation_id,
        reason="reward payout: reporter identity",
        detail={"identity_code": case.fields.get("identity_code"), "matches": matches},
        now=now,
    )
    return matches
