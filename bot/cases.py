"""Cases: numbering, submission inside the message transaction, and reading them back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, selectinload

from bot import ccc_feedback, reports
from bot.backoffice import Handoff
from bot.business.identity import Respondent, Sellers
from bot.conversations import upsert_into
from bot.db.models import Case, CaseEvent, CaseSequence, Evidence
from bot.deadlines import Deadline, complaint_acceptance_due, local_date, report_verification_due
from bot.senders import shown_sender
from bot.staff.push import notice, push
from dialogues.actions import SubmitCase
from dialogues.ports import CaseReceipt
from integrations.credit.registry import listings_in

PREFIX = {"complaint": "TS", "report": "JB"}


def next_case_no(session: Session, *, kind: str, at: datetime) -> str:
    """``TS``/``JB`` + local date + 6-digit daily sequence; atomic across workers and hosts."""
    prefix, day = PREFIX[kind], local_date(at).strftime("%Y%m%d")
    stmt = (
        upsert_into(session, CaseSequence)
        .values(prefix=prefix, day=day, last=1)
        .on_conflict_do_update(
            index_elements=["prefix", "day"], set_={"last": CaseSequence.last + 1}
        )
        .returning(CaseSequence.last)
    )
    seq = session.execute(stmt).scalar_one()
    if seq > 999_999:
        raise RuntimeError(f"case sequence exhausted for {prefix}{day}")
    return f"{prefix}{day}{seq:06d}"


def decision_deadline(kind: str, at: datetime) -> Deadline:
    return complaint_acceptance_due(at) if kind == "complaint" else report_verification_due(at)


@dataclass(frozen=True)
class Filer:
    """Who a turn's actions act for: the conversation and its sender, at the turn's time."""

    conversation_id: int
    channel: str
    sender_id: str
    locale: str
    now: datetime
    client_address: str | None = None


def identify(session: Session, kind: str, fields: dict[str, Any], sellers: Sellers) -> Respondent:
    """The seller as a business, its region, office and credit listings (for staff)."""
    return sellers.identify(
        kind, fields, credit=lambda code, name: listings_in(session, uscc=code, name=name)
    )


def submit(
    session: Session,
    filer: Filer,
    action: SubmitCase,
    *,
    handoff: Handoff,
    sellers: Sellers | None = None,
) -> CaseReceipt:
    """File a case in the turn's transaction: number, deadline, the seller's identity and
    office, duplicate check, evidence, the first event and the back-office hand-off."""
    kind, now = action.kind, filer.now
    deadline = decision_deadline(kind, now)
    fields = dict(action.fields)
    personal = dict(action.personal)
    evidence_ids = list(action.evidence_ids)
    linked = fields.pop("linked_case_no", None)
    keys: dict[str, Any] = {}
    original: Case | None = None
    similar: list[str] = []
    seller = identify(session, kind, fields, sellers) if sellers is not None else Respondent()
    region = seller.region.code if seller.region else None
    if kind == "report":
        if reports.wants_anonymous_reward(fields):
            fields["identity_code"] = reports.new_identity_code()
        keys["target_name_key"] = reports.name_key(fields.get("target_name"))
        keys["target_link_key"] = reports.link_key(fields.get("target_location"))
        keys["reward_checklist"] = reports.reward_checklist(fields, personal, len(evidence_ids))
        original = reports.find_duplicate(
            session,
            name=keys["target_name_key"],
            link=keys["target_link_key"],
            uscc=seller.uscc,
            region=region,
            now=now,
        )
        if original is None:
            similar = reports.similar_elsewhere(
                session, name=keys["target_name_key"], region=region, now=now
            )
    # The day's number row stays locked until the turn commits: take it last, after the
    # seller's identification and the duplicate search, so concurrent filings wait less.
    case_no = next_case_no(session, kind=kind, at=now)
    case = Case(
        case_no=case_no,
        kind=kind,
        status="submitted",
        conversation_id=filer.conversation_id,
        channel=filer.channel,
        sender_id=filer.sender_id,
        locale=filer.locale,
        fields=fields,
        personal=personal,
        platform=fields.get("platform"),
        merchant=fields.get("merchant"),
        submitted_at=now,
        decision_due=deadline.due,
        updated_at=now,
        duplicate_of_id=original.id if original else None,
        linked_case_no=linked,
        respondent=seller.as_dict() if sellers is not None else None,
        respondent_uscc=seller.uscc,
        region_code=region,
        office=seller.office.key if seller.office else None,
        **keys,
    )
    session.add(case)
    session.flush()
    # The certificate numbers it names, counted for staff and exported for platforms.
    ccc_feedback.record(session, case)
    if linked:
        session.execute(
            update(Case)
            .where(Case.case_no == linked, Case.conversation_id == filer.conversation_id)
            .values(linked_case_no=case_no, updated_at=now)
        )
    if evidence_ids:
        session.execute(
            update(Evidence)
            .where(Evidence.id.in_(evidence_ids), Evidence.conversation_id == filer.conversation_id)
            .values(case_id=case.id)
        )
    submitted = CaseEvent(
        case_id=case.id,
        kind="submitted",
        detail={
            "decision_due": deadline.due.isoformat(),
            "evidence": len(evidence_ids),
            "duplicate_of": original.case_no if original else None,
            "linked_case_no": linked,
            # Same shop name in another or an unknown region: staff decide whether to merge.
            "possible_duplicates": similar,
            "office": seller.office.key if seller.office else None,
        },
        actor=f"{filer.channel}:user",
        at=now,
    )
    session.add(submitted)
    if original is not None:
        tell_first_reporter(session, original, case_no, now)
    # Hand the new case to the external back office (an outbox row; no-op when not set).
    handoff.enqueue(session, case, submitted, now=now)
    return CaseReceipt(
        case_no=case_no,
        kind=kind,
        decision_due=deadline.due,
        working_days=deadline.working_days,
        calendar_estimated=deadline.estimated,
        merged=original is not None,
        linked_case_no=linked,
        identity_code=fields.get("identity_code"),
    )


def tell_first_reporter(session: Session, original: Case, merged_no: str, now: datetime) -> None:
    """The earlier reporter hears that a later report was merged into theirs and that being
    first by registration time still counts for a reward (国市监稽规〔2021〕4号, FACTS §2); the
    later report's number and reporter are not named. Staff see the merge on the case."""
    session.add(
        CaseEvent(
            case_id=original.id,
            kind="report_merged_in",
            detail={"case_no": merged_no},
            actor="system",
            at=now,
        )
    )
    push(
        session,
        channel=original.channel,
        recipient_id=original.sender_id,
        text=notice(original.locale, "merged_in", case_no=original.case_no),
        source=f"merged_in.{original.case_no}.{merged_no}",
        now=now,
        conversation_id=original.conversation_id,
        custom={"case_no": original.case_no},
    )


async def get_case(session: AsyncSession, case_no: str) -> Case | None:
    stmt = (
        select(Case)
        .where(Case.case_no == case_no.strip().upper())
        .options(selectinload(Case.events), selectinload(Case.evidence))
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_cases(
    session: AsyncSession,
    *,
    kind: str | None = None,
    status: str | None = None,
    limit: int = 50,
) -> list[Case]:
    stmt = select(Case).order_by(Case.id.desc()).limit(limit)
    if kind:
        stmt = stmt.where(Case.kind == kind)
    if status:
        stmt = stmt.where(Case.status == status)
    return list((await session.execute(stmt)).scalars())


def case_as_dict(case: Case, *, with_details: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "case_no": case.case_no,
        "kind": case.kind,
        "status": case.status,
        "channel": case.channel,
        "sender_id": shown_sender(case.channel, case.sender_id),
        "submitted_at": case.submitted_at.isoformat(),
        "decision_due": case.decision_due.isoformat() if case.decision_due else None,
        "platform": case.platform,
        "merchant": case.merchant,
        "fields": case.fields,
        "personal": case.personal,
        "reward_checklist": case.reward_checklist,
        "duplicate_of_id": case.duplicate_of_id,
        "linked_case_no": case.linked_case_no,
        "region_code": case.region_code,
        "office": case.office,
        "respondent": case.respondent,
    }
    if with_details:
        data["events"] = [
            {"kind": e.kind, "at": e.at.isoformat(), "actor": e.actor, "detail": e.detail}
            for e in case.events
        ]
        data["evidence"] = [
            {
                "sha256": e.sha256,
                "content_type": e.content_type,
                "size": e.size,
                "filename": e.filename,
            }
            for e in case.evidence
        ]
    return data
