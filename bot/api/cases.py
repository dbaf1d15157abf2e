"""Cases for staff: list with filters, detail, transitions, actions, reveal, evidence download."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from bot import backoffice
from bot.api.deps import AuditSession, CaseStaff, Runtime, Session, Supervisor
from bot.business import offices
from bot.cases import get_case
from bot.db.models import Case, Evidence
from bot.deadlines import local_date
from bot.staff import report_password, views
from bot.staff.accounts import Staff
from bot.staff.audit import log as log_audit
from bot.web.errors import ApiError
from bot.workflow import (
    WorkflowError,
    extend_verification,
    forward,
    merge_report,
    record_pause,
    record_reporter_notice,
    transition,
)

router = APIRouter(prefix="/api/v1", tags=["staff cases"])
CaseNo = Annotated[str, Path(pattern=r"^(TS|JB)\d{14}$", description="e.g. TS20261127000042")]
Kind = Literal["complaint", "report"]
Status = Literal[
    "submitted",
    "forwarded",
    "accepted",
    "not_accepted",
    "mediation",
    "agreement",
    "mediation_ended",
    "verifying",
    "case_opened",
    "not_opened",
    "closed",
]


class CaseList(BaseModel):
    total: int
    items: list[dict[str, Any]]


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: Status
    reason: str | None = Field(default=None, max_length=64)
    note: str = Field(default="", max_length=2000)


class ForwardIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    office: str = Field(pattern=offices.KEY.pattern, description="Directory key")
    reason: str = Field(max_length=64, description="A key of the rules' forward reasons")
    note: str = Field(default="", max_length=2000)


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    into: str = Field(
        pattern=r"^JB\d{14}$", description="The earlier open report, e.g. JB20261127000042"
    )
    note: str = Field(default="", max_length=2000)


class ActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["extend_verification", "reporter_notified", "pause"]
    note: str = Field(default="", max_length=2000)
    # A pause (testing, 鉴定, right-holder identification): its reason and days, both included.
    reason: str | None = Field(default=None, max_length=32)
    first: date | None = None
    last: date | None = None


class ReportPasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str = Field(
        min_length=1, max_length=64, description="Given by the reporter at payout"
    )


class RevealIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=5, max_length=500, description="Why the identity is needed")


async def load(session: Session, case_no: str, staff: Staff) -> Case:
    """The case if ``staff`` may see it; another office's case is as unknown as a wrong number."""
    case = await get_case(session, case_no)
    if case is None or not views.may_see(staff, case):
        raise ApiError(404, "case_not_found", f"No case {case_no}.")
    return case


def refused(exc: WorkflowError, *, conflicts: set[str]) -> ApiError:
    """A refusal by the rules as the API answers it: 409 when the case's current state is
    why (the ``conflicts``), 422 when the request itself is."""
    status = 409 if exc.code in conflicts else 422
    return ApiError(status, exc.code, str(exc), **exc.extra)


def ensure_may_work(staff: Staff, case: Case) -> None:
    if not views.may_work(staff, case):
        raise ApiError(403, "forbidden", "Reports are worked by supervisors.")


@router.get("/cases", response_model=CaseList)
async def list_cases(
    staff: CaseStaff,
    runtime: Runtime,
    session: Session,
    kind: Kind | None = None,
    status: Status | None = None,
    platform: Annotated[str | None, Query(max_length=32)] = None,
    overdue: bool | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    office: Annotated[str | None, Query(pattern=offices.KEY.pattern)] = None,
    region: Annotated[str | None, Query(pattern=r"^(\d{2}|\d{4}|\d{6})$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> CaseList:
    today = local_date(runtime.now())
    if date_from and date_to and date_from > date_to:
        raise ApiError(422, "invalid_request", "date_from is after date_to.")
    stmt = views.filtered(
        kind=kind,
        status=status,
        platform=platform,
        overdue=overdue,
        date_from=date_from,
        date_to=date_to,
        office=office,
        region=region,
        today=today,
    )
    stmt = views.scoped(stmt, staff)
    total = await views.count(session, stmt)
    rows = (await session.execute(stmt.limit(limit).offset(offset))).scalars()
    return CaseList(total=total, items=[views.summary(c, today) for c in rows])


@router.get("/cases/{case_no}")
async def case_detail(
    case_no: CaseNo, staff: CaseStaff, runtime: Runtime, session: Session, audit: AuditSession
) -> dict[str, Any]:
    """Read in a snapshot; the audit row of a personal-data view commits before the answer."""
    case = await load(session, case_no, staff)
    return views.detail(audit, case, staff, now=runtime.now())


@router.post("/cases/{case_no}/reveal")
async def reveal(
    case_no: CaseNo, body: RevealIn, staff: Supervisor, runtime: Runtime, session: Session
) -> dict[str, Any]:
    """A supervisor sees a reporter's identity; who, when and why go to the audit log."""
    case = await load(session, case_no, staff)
    return views.detail(session, case, staff, now=runtime.now(), reveal_reason=body.reason)


@router.post("/cases/{case_no}/report-password")
async def verify_report_password(
    case_no: CaseNo, body: ReportPasswordIn, staff: Supervisor, runtime: Runtime, session: Session
) -> dict[str, Any]:
    """An anonymous reporter claims a reward: does the password they give match? (audited)"""
    case = await load(session, case_no, staff)
    if not report_password.has_password(case):
        raise ApiError(409, "no_report_password", "This report has no report password.")
    matches = await report_password.check(
        session, case, body.password, staff=staff, now=runtime.now()
    )
    return {
        "case_no": case.case_no,
        "identity_code": case.fields.get("identity_code"),
        "matches": matches,
    }


@router.post("/cases/{case_no}/transitions")
async def post_transition(
    case_no: CaseNo, body: TransitionIn, staff: CaseStaff, runtime: Runtime, session: Session
) -> dict[str, Any]:
    case = await load(session, case_no, staff)
    ensure_may_work(staff, case)
    try:
        await transition(
            session,
            case,
            body.to,
            actor=staff.actor,
            now=runtime.now(),
            handoff=runtime.handoff,
            reason=body.reason,
            note=body.note,
        )
    except WorkflowError as exc:
        raise refused(exc, conflicts={"invalid_transition"}) from None
    runtime.wake_outbox()
    return views.summary(case, local_date(runtime.now()))


@router.post("/cases/{case_no}/forward")
async def post_forward(
    case_no: CaseNo, body: ForwardIn, staff: CaseStaff, runtime: Runtime, session: Session
) -> dict[str, Any]:
    """Forward the case to another region's office: agents of the case's office (complaints)
    and supervisors."""
    case = await load(session, case_no, staff)
    ensure_may_work(staff, case)
    office = runtime.directory.get(body.office)
    if office is None:
        raise ApiError(422, "unknown_office", f"No office {body.office!r} in the directory.")
    try:
        await forward(
            session,
            case,
            office,
            actor=staff.actor,
            now=runtime.now(),
            handoff=runtime.handoff,
            reason=body.reason,
            note=body.note,
        )
    except WorkflowError as exc:
        raise refused(exc, conflicts={"not_forwardable", "same_office"}) from None
    runtime.wake_outbox()
    return views.summary(case, local_date(runtime.now()))


@router.post("/cases/{case_no}/merge")
async def post_merge(
    case_no: CaseNo, body: MergeIn, staff: CaseStaff, runtime: Runtime, session: Session
) -> dict[str, Any]:
    """Merge this report into an earlier open report on the same target (supervisors, who
    work reports): both reporters are told, the back office gets ``case.merged``."""
    case = await load(session, case_no, staff)
    ensure_may_work(staff, case)
    into = await get_case(session, body.into)
    if into is None or not views.may_see(staff, into):
        raise ApiError(422, "unknown_case", f"No report {body.into} to merge into.")
    try:
        await merge_report(
            session,
            case,
            into,
            actor=staff.actor,
            now=runtime.now(),
            handoff=runtime.handoff,
            note=body.note,
        )
    except WorkflowError as exc:
        raise refused(
            exc, conflicts={"not_earlier", "already_merged", "into_merged", "not_open"}
        ) from None
    runtime.wake_outbox()
    return views.summary(case, local_date(runtime.now())) | {"duplicate_of": into.case_no}


@router.post("/cases/{case_no}/actions")
async def post_action(
    case_no: CaseNo, body: ActionIn, staff: CaseStaff, runtime: Runtime, session: Session
) -> dict[str, Any]:
    case = await load(session, case_no, staff)
    ensure_may_work(staff, case)
    if body.action == "pause":
        if body.first is None or body.last is None or body.reason is None:
            raise ApiError(422, "invalid_request", "A pause needs reason, first and last.")
        try:
            await record_pause(
                session,
                case,
                actor=staff.actor,
                now=runtime.now(),
                handoff=runtime.handoff,
                reason=body.reason,
                first=body.first,
                last=body.last,
                note=body.note,
            )
        except WorkflowError as exc:
            raise ApiError(422, exc.code, str(exc), **exc.extra) from None
        runtime.wake_outbox()
        return views.summary(case, local_date(runtime.now()))
    act = extend_verification if body.action == "extend_verification" else record_reporter_notice
    try:
        await act(
            session,
            case,
            actor=staff.actor,
            now=runtime.now(),
            handoff=runtime.handoff,
            note=body.note,
        )
    except WorkflowError as exc:
        raise ApiError(409, exc.code, str(exc), **exc.extra) from None
    runtime.wake_outbox()
    return views.summary(case, local_date(runtime.now()))


@router.get("/cases/{case_no}/evidence/{sha256}", response_class=FileResponse)
async def evidence(
    case_no: CaseNo,
    sha256: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")],
    staff: CaseStaff,
    runtime: Runtime,
    session: Session,
) -> Response:
    """The original file, only when it belongs to this case (staff only)."""
    case = await load(session, case_no, staff)
    item = (
        (
            await session.execute(
                select(Evidence).where(Evidence.case_id == case.id, Evidence.sha256 == sha256)
            )
        )
        .scalars()
        .first()
    )
    path = runtime.evidence.path_for(sha256)
    if item is None or not path.exists():
        raise ApiError(404, "evidence_not_found", "No such evidence on this case.")
    await log_audit(
        session,
        actor=staff.actor,
        action="evidence_download",
        case_no=case.case_no,
        conversation_id=case.conversation_id,
        detail={"sha256": sha256, "filename": item.filename},
        now=runtime.now(),
    )
    return Response(
        await runtime.evidence.load(sha256) or b"",
        media_type=item.content_type,
        headers={"X-Content-SHA256": sha256, "Cache-Control": "private"},
    )


@router.get("/backoffice/deliveries")
async def handoff_deliveries(
    staff: Supervisor,
    session: Session,
    status: Literal["pending", "sending", "sent", "failed"] | None = None,
) -> list[dict[str, Any]]:
    """Hand-off rows, failures first, so a stuck external system is visible."""
    return [
        {
            "key": r.key,
            "status": r.status,
            "attempts": r.attempts,
            "last_error": r.last_error,
            "next_attempt_at": r.next_attempt_at.isoformat(),
            "sent_at": r.sent_at.isoformat() if r.sent_at else None,
        }
        for r in await backoffice.deliveries(session, status=status)
    ]
