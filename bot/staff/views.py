"""What each role may see of a case: the one place that masks and audits personal data."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from bot import reports
from bot.crypto import mask
from bot.db.models import Case, CaseEvent
from bot.deadlines import local_date
from bot.staff import audit, labels, report_password
from bot.staff.accounts import Staff
from bot.workflow import allowed, deadlines_for, is_overdue, may_forward

PERSONAL_FIELDS = ("name", "phone", "address", "id_number")


def may_see(staff: Staff, case: Case) -> bool:
    """An agent of an office sees the cases routed to that office; supervisors, and agents
    of a setup without offices, see every office's."""
    return staff.role != "agent" or staff.office is None or case.office == staff.office


def scoped(stmt: Select[Case], staff: Staff) -> Select[Case]:
    """``stmt`` narrowed to what ``staff`` may see (``may_see`` as a query)."""
    if staff.role == "agent" and staff.office is not None:
        return stmt.where(Case.office == staff.office)
    return stmt


def office_for(staff: Staff, asked: str | None) -> str | None:
    """The office a view narrows to: an office's agent always their own; anyone else the
    office asked for ("none": not routed yet), or every office."""
    if staff.role == "agent" and staff.office is not None:
        return staff.office
    return asked or None


def may_work(staff: Staff, case: Case) -> bool:
    """Agents work complaints; reports (with their protected reporters) need a supervisor."""
    return staff.role == "supervisor" or (staff.role == "agent" and case.kind == "complaint")


def category(case: Case) -> str:
    return labels.category_key(case.kind, case.fields)


# An anonymous reporter's 举报密码 is kept as a hash: shown as set, never as the hash.
HASH_SHOWN_AS = "已设置（仅存哈希，可核对）"


def masked(personal: dict[str, Any]) -> dict[str, Any]:
    return {k: mask(v) if isinstance(v, str) else v for k, v in personal.items()}


def summary(case: Case, today: date) -> dict[str, Any]:
    return {
        "case_no": case.case_no,
        "kind": case.kind,
        "status": case.status,
        "channel": case.channel,
        "submitted_at": case.submitted_at.isoformat(),
        "next_deadline": case.decision_due.isoformat() if case.decision_due else None,
        "overdue": is_overdue(case, today),
        "platform": case.platform,
        "merchant": case.merchant,
        # Who the case is about: a complaint's merchant, a report's target (被举报对象).
        "target": labels.target(case.kind, case.merchant, case.fields) or None,
        "category": category(case),
        # What staff read: the label of a choice, never its key (bot/staff/labels.py).
        "category_label": labels.category(case.kind, case.fields),
        "region_code": case.region_code,
        "region": _region_label(case),
        "office": case.office,
    }


def _region_label(case: Case) -> str:
    region = (case.respondent or {}).get("region") or {}
    return str(region.get("label") or "")


def detail(
    session: AsyncSession,
    case: Case,
    staff: Staff,
    *,
    now: datetime,
    reveal_reason: str | None = None,
) -> dict[str, Any]:
    """The full case for ``staff``; clear personal data is audited, reporters masked unless revealed."""
    today = local_date(now)
    data = summary(case, today)
    events = list(case.events)
    personal = dict(case.personal or {})
    if personal.get(report_password.FIELD):
        # Only a hash is stored; staff check a password given at payout, never read one.
        personal[report_password.FIELD] = HASH_SHOWN_AS
    clear = case.kind == "complaint" or reveal_reason is not None
    if personal and clear:
        audit.record(
            session,
            actor=staff.actor,
            action="reveal_reporter" if case.kind == "report" else "view_personal",
            case_no=case.case_no,
            conversation_id=case.conversation_id,
            reason=reveal_reason or "case detail",
            detail={"fields": sorted(personal)},
            now=now,
        )
    data.update(
        fields=case.fields,
        personal=personal if clear else masked(personal),
        report_password_set=bool((case.personal or {}).get(report_password.FIELD)),
        personal_masked=not clear,
        linked_case_no=case.linked_case_no,
        reward_checklist=case.reward_checklist,
        # The seller as a business with its credit listings: for staff, never for the consumer.
        respondent=case.respondent,
        allowed_transitions=allowed(case.kind, case.status) if may_work(staff, case) else [],
        may_work=may_work(staff, case),
        # Forwarding to another region's office: whoever may work the case, from the rules'
        # statuses (bot/rules/workflow.yml ``forward``).
        may_forward=may_work(staff, case) and may_forward(case),
        # The earlier report this one is merged into (at filing, or by staff since), and the
        # same-named reports in other regions proposed at filing for staff to judge.
        merged_into=_merged_into(events),
        merge_candidates=_merge_candidates(case, events) if may_work(staff, case) else [],
        deadlines=[
            {
                "key": d.key,
                "due": d.due.isoformat(),
                "met": d.met,
                "overdue": d.overdue,
                "rule": d.rule,
            }
            for d in deadlines_for(case, events, today)
        ],
        events=[
            {"kind": e.kind, "at": e.at.isoformat(), "actor": e.actor, "detail": e.detail}
            for e in events
        ],
        evidence=[
            {
                "sha256": e.sha256,
                "content_type": e.content_type,
                "size": e.size,
                "filename": e.filename,
                # What the photo reader found on it (bot/photowork.py), decrypted for staff.
                "reading": e.reading,
                "read_at": e.read_at.isoformat() if e.read_at else None,
            }
            for e in case.evidence
        ],
    )
    return data


def _merged_into(events: list[CaseEvent]) -> str | None:
    for event in reversed(events):
        if event.kind == "merged":
            return str(event.detail["into"])
        if event.kind == "submitted" and event.detail.get("duplicate_of"):
            return str(event.detail["duplicate_of"])
    return None


def _merge_candidates(case: Case, events: list[CaseEvent]) -> list[str]:
    """The reports proposed at filing as maybe the same target, while this one is unmerged
    and open (bot/workflow.merge_report checks each again when staff choose one)."""
    if case.kind != "report" or case.duplicate_of_id is not None:
        return []
    if not reports.is_open(case):
        return []
    submitted = next((e for e in events if e.kind == "submitted"), None)
    return list(submitted.detail.get("possible_duplicates") or []) if submitted else []


def filtered(
    *,
    kind: str | None = None,
    status: str | None = None,
    platform: str | None = None,
    overdue: bool | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    office: str | None = None,
    region: str | None = None,
    today: date,
) -> Select[Case]:
    """The case query behind the list, the console and the export, with the same filters."""
    from datetime import time, timedelta

    from bot.deadlines import SHANGHAI

    # Lists never need personal data: leave it encrypted in the database, undecrypted.
    stmt = select(Case).options(defer(Case.personal)).order_by(Case.id.desc())
    if kind:
        stmt = stmt.where(Case.kind == kind)
    if status:
        stmt = stmt.where(Case.status == status)
    if platform:
        stmt = stmt.where(Case.platform == platform)
    if office == "none":  # not routed yet: staff set the region
        stmt = stmt.where(Case.office.is_(None))
    elif office:
        stmt = stmt.where(Case.office == office)
    if region:  # a province (2 digits), city (4) or county (6) code
        stmt = stmt.where(Case.region_code.startswith(region, autoescape=True))
    if overdue is True:
        stmt = stmt.where(Case.decision_due < today, Case.status != "closed")
    elif overdue is False:
        stmt = stmt.where((Case.decision_due.is_(None)) | (Case.decision_due >= today))
    if date_from:
        stmt = stmt.where(Case.submitted_at >= datetime.combine(date_from, time(), SHANGHAI))
    if date_to:
        end = datetime.combine(date_to + timedelta(days=1), time(), SHANGHAI)
        stmt = stmt.where(Case.submitted_at < end)
    return stmt


async def count(session: AsyncSession, stmt: Select[Case]) -> int:
    sub = stmt.order_by(None).subquery()
    return int((await session.execute(select(func.count()).select_from(sub))).scalar_one())
