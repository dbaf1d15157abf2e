"""The case workflow: allowed transitions, deadlines per stage, events and consumer notices.

``Case.decision_due`` always holds the *next* deadline of the case's current stage (acceptance,
verification, mediation limit, reporter notice), so "overdue" is one indexed comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot import reports, transfer
from bot.backoffice import Handoff
from bot.business.offices import Office
from bot.db.models import Case, CaseEvent
from bot.deadlines import add_working_days, local_date, paused, restarted_on_forward, rules
from bot.staff import labels
from bot.staff.push import can_push, notice, push, workflow_rules

DECISIONS = {"case_opened", "not_opened"}


class WorkflowError(ValueError):
    """A transition or action the rules do not allow from the case's current state."""

    def __init__(self, code: str, message: str, *, zh: str, **extra: Any) -> None:
        super().__init__(message)
        # ``message`` is the API's (English, as its other errors); ``zh`` is what the
        # console shows staff.
        self.code, self.zh, self.extra = code, zh, extra


def allowed(kind: str, status: str) -> list[str]:
    return list(workflow_rules()["transitions"].get(kind, {}).get(status, []))


def not_accepted_reasons() -> dict[str, dict[str, str]]:
    return dict(workflow_rules()["not_accepted_reasons"])


def forward_reasons() -> dict[str, dict[str, str]]:
    return dict(workflow_rules()["forward"]["reasons"])


def may_forward(case: Case) -> bool:
    """Whether the rules let ``case`` be forwarded from its current status."""
    return case.status in workflow_rules()["forward"]["from"].get(case.kind, [])


def real_name_reporter(case: Case) -> bool:
    return case.kind == "report" and case.fields.get("identity") == "real_name"


@dataclass(frozen=True)
class DeadlineView:
    key: str
    due: date
    met: bool
    overdue: bool
    rule: str


def _first(events: list[CaseEvent], kind: str, to: str | None = None) -> CaseEvent | None:
    for event in events:
        if event.kind == kind and (to is None or event.detail.get("to") == to):
            return event
    return None


def deadlines_for(case: Case, events: list[CaseEvent], today: date) -> list[DeadlineView]:
    """Every deadline of the case so far, met or open, with the rule it comes from."""
    r, out = rules(), []
    received = local_date(case.submitted_at)
    # A forwarded case's clock starts again on receipt by the office it went to: the
    # deadlines count from the last forward, and only what happened since.
    forwards = [i for i, e in enumerate(events) if e.kind == "forwarded"]
    if forwards:
        received = local_date(events[forwards[-1]].at)
        events = events[forwards[-1] + 1 :]

    def add(key: str, due: date, met: bool) -> None:
        out.append(DeadlineView(key, due, met, not met and due < today, str(r[key]["rule"])))

    if case.kind == "complaint":
        decided = _first(events, "transition")
        add(
            "complaint_acceptance",
            add_working_days(received, int(r["complaint_acceptance"]["working_days"])).due,
            decided is not None,
        )
        accepted = _first(events, "transition", "accepted")
        if accepted is not None:
            due = local_date(accepted.at) + timedelta(
                days=int(r["mediation_limit"]["calendar_days"])
            )
            ended = case.status in {"agreement", "mediation_ended", "closed"}
            add("mediation_limit", due, ended)
    else:
        decided = _first(events, "transition", "case_opened") or _first(
            events, "transition", "not_opened"
        )
        due = add_working_days(received, int(r["report_verification"]["working_days"])).due
        # Extensions and pauses in the order staff recorded them, as they moved decision_due.
        for event in events:
            if event.kind == "extended":
                days = int(r["report_verification"]["extension_working_days"])
                due = add_working_days(due, days).due
            elif event.kind == "paused":
                first, last = (date.fromisoformat(event.detail[k]) for k in ("first", "last"))
                due = paused(due, first, last).due
        add("report_verification", due, decided is not None)
        if decided is not None and real_name_reporter(case):
            notice_due = add_working_days(
                local_date(decided.at), int(r["reporter_notice"]["working_days"])
            ).due
            add("reporter_notice", notice_due, _first(events, "reporter_notified") is not None)
    return out


def is_overdue(case: Case, today: date) -> bool:
    return case.decision_due is not None and case.decision_due < today and case.status != "closed"


def _next_due(case: Case, to: str, now: datetime) -> date | None:
    r = rules()
    if to == "accepted":
        return local_date(now) + timedelta(days=int(r["mediation_limit"]["calendar_days"]))
    if to in {"mediation", "verifying"}:
        return case.decision_due
    if to in DECISIONS and real_name_reporter(case) and not can_push(case.channel):
        return add_working_days(local_date(now), int(r["reporter_notice"]["working_days"])).due
    return None


async def _notify(
    session: AsyncSession, case: Case, event: CaseEvent, key: str, now: datetime, **values: Any
) -> None:
    due = case.decision_due.isoformat() if case.decision_due else ""
    text = notice(case.locale, key, case_no=case.case_no, due=due, kind=case.kind, **values)
    await session.run_sync(
        push,
        channel=case.channel,
        recipient_id=case.sender_id,
        text=text,
        source=f"notice.{case.case_no}.{event.id}",
        now=now,
        conversation_id=case.conversation_id,
        custom={"case_no": case.case_no, "status": case.status},
    )


async def hold(session: AsyncSession, case: Case) -> None:
    """Lock the case row for this transaction (``FOR UPDATE`` on PostgreSQL; SQLite serialises
    writers) and re-read its state, so of two staff deciding at once the second sees the first."""
    await session.refresh(
        case,
        ["status", "decision_due", "updated_at", "office", "duplicate_of_id"],
        with_for_update=True,
    )


async def _event(
    session: AsyncSession, case: Case, kind: str, actor: str, now: datetime, **detail: Any
) -> CaseEvent:
    event = CaseEvent(case_id=case.id, kind=kind, detail=detail, actor=actor, at=now)
    session.add(event)
    await session.flush()
    return event


async def transition(
    session: AsyncSession,
    case: Case,
    to: str,
    *,
    actor: str,
    now: datetime,
    handoff: Handoff,
    reason: str | None = None,
    note: str = "",
) -> CaseEvent:
    """Move ``case`` to ``to``: event, next deadline, consumer notice, hand-off, in one transaction."""
    await hold(session, case)
    options = allowed(case.kind, case.status)
    if to not in options:
        raise WorkflowError(
            "invalid_transition",
            f"A {case.kind} in status {case.status!r} cannot move to {to!r}.",
            zh=f"{labels.kind(case.kind)}当前为“{labels.status(case.status)}”，"
            f"不能改为“{labels.status(to)}”。",
            allowed=options,
        )
    reasons = not_accepted_reasons()
    if (to == "not_accepted" or reason) and reason not in reasons:
        # Required for a refusal, and any reason given must be one of the list (its words
        # are what the consumer is told).
        raise WorkflowError(
            "reason_required",
            "Choose a reason from the rules' list.",
            zh="请从规则列出的原因中选择一项。",
            reasons=list(reasons),
        )
    previous = case.status
    case.status, case.updated_at = to, now
    case.decision_due = _next_due(case, to, now)
    event = await _event(
        session,
        case,
        "transition",
        actor,
        now,
        to=to,
        reason=reason,
        note=note,
        **{"from": previous},
    )
    text_reason = reasons[reason].get(case.locale, reasons[reason]["zh"]) if reason else ""
    await _notify(session, case, event, to, now, reason=text_reason)
    if to in DECISIONS and real_name_reporter(case) and can_push(case.channel):
        await _event(session, case, "reporter_notified", actor, now, via="push")
    await session.run_sync(handoff.enqueue, case, event, now=now)
    return event


async def forward(
    session: AsyncSession,
    case: Case,
    office: Office,
    *,
    actor: str,
    now: datetime,
    handoff: Handoff,
    reason: str,
    note: str = "",
) -> CaseEvent:
    """Forward (分送/移送) ``case`` to ``office`` in another region, in one transaction: status
    ``forwarded``, the case's office, the deadline restarted on receipt there, the consumer's
    notice, the back-office event and the package to the office's own hand-off URL."""
    await hold(session, case)
    if not may_forward(case):
        raise WorkflowError(
            "not_forwardable",
            f"A {case.kind} in status {case.status!r} cannot be forwarded.",
            zh=f"{labels.kind(case.kind)}当前为“{labels.status(case.status)}”，不能移送。",
        )
    reasons = forward_reasons()
    if reason not in reasons:
        raise WorkflowError(
            "reason_required",
            "Choose a reason from the rules' list.",
            zh="请从规则列出的原因中选择一项。",
            reasons=list(reasons),
        )
    if office.key == case.office:
        raise WorkflowError(
            "same_office", "The case is already with that office.", zh="案件已在该承办单位。"
        )
    previous, previous_office = case.status, case.office
    due = restarted_on_forward(now, case.kind)
    case.status, case.office, case.decision_due, case.updated_at = (
        "forwarded",
        office.key,
        due.due,
        now,
    )
    event = await _event(
        session,
        case,
        "forwarded",
        actor,
        now,
        office=office.key,
        office_name=office.name,
        from_office=previous_office,
        reason=reason,
        note=note,
        due=due.due.isoformat(),
        **{"from": previous},
    )
    lang_reasons = reasons[reason]
    await _notify(
        session,
        case,
        event,
        f"forwarded_{case.kind}",
        now,
        office=office.name,
        reason=lang_reasons.get(case.locale, lang_reasons["zh"]),
        days=due.working_days,
        contact=notice(case.locale, "office_phone", phone=office.phone) if office.phone else "",
    )
    await session.run_sync(handoff.enqueue, case, event, now=now)
    await session.run_sync(transfer.enqueue, case, event, office, now=now)
    return event


def _registered_before(a: Case, b: Case) -> bool:
    """Whether ``a`` was registered before ``b`` (the number breaks a tie of the clock)."""
    return (a.submitted_at, a.id) < (b.submitted_at, b.id)


async def merge_report(
    session: AsyncSession,
    case: Case,
    into: Case,
    *,
    actor: str,
    now: datetime,
    handoff: Handoff,
    note: str = "",
) -> CaseEvent:
    """Merge report ``case`` into the earlier open report ``into`` on the same target, as
    staff judged it (a same-named shop in another or an unknown region is proposed at filing,
    never merged by itself): the case records what it was merged into, the first reporter
    hears that a later report was merged into theirs (their place for a reward unchanged,
    国市监稽规〔2021〕4号), the later reporter that theirs will be checked with an earlier
    one, and the back office gets ``case.merged``; one transaction."""
    for held in sorted({case.id: case, into.id: into}.values(), key=lambda c: c.id):
        # In one order whichever way round staff chose them: two merges of the same pair
        # at once wait for each other instead of deadlocking.
        await hold(session, held)
    if case.kind != "report" or into.kind != "report":
        raise WorkflowError("not_mergeable", "Only reports are merged.", zh="只有举报可以合并。")
    if case.id == into.id:
        raise WorkflowError(
            "same_case", "A report cannot be merged into itself.", zh="不能与本案合并。"
        )
    if case.duplicate_of_id is not None:
        raise WorkflowError(
            "already_merged",
            "This report is already merged into another.",
            zh="本举报已与其他举报合并。",
        )
    if into.duplicate_of_id is not None:
        raise WorkflowError(
            "into_merged",
            f"{into.case_no} is itself merged into another report: merge into that one.",
            zh=f"{into.case_no} 本身已并入其他举报，请与那一份合并。",
        )
    if not _registered_before(into, case):
        # The first reporter by registration time keeps the place for a reward: the later
        # report goes into the earlier one, never the other way round.
        raise WorkflowError(
            "not_earlier",
            f"{into.case_no} was registered after {case.case_no}: merge the later report "
            "into the earlier one.",
            zh=f"{into.case_no} 登记晚于 {case.case_no}：应把后登记的举报并入先登记的。",
        )
    closed = [c for c in (case, into) if not reports.is_open(c)]
    if closed:
        raise WorkflowError(
            "not_open",
            f"{closed[0].case_no} is no longer open ({closed[0].status}).",
            zh=f"{closed[0].case_no} 当前为“{labels.status(closed[0].status)}”，不能合并。",
        )
    case.duplicate_of_id, case.updated_at = into.id, now
    event = await _event(session, case, "merged", actor, now, into=into.case_no, note=note)
    from bot.cases import tell_first_reporter

    await session.run_sync(tell_first_reporter, into, case.case_no, now)
    await _notify(session, case, event, "merged", now)
    await session.run_sync(handoff.enqueue, case, event, now=now)
    return event


async def extend_verification(
    session: AsyncSession,
    case: Case,
    *,
    actor: str,
    now: datetime,
    handoff: Handoff,
    note: str = "",
) -> CaseEvent:
    """Extend a report's verification by the rules' extension, once (行政处罚程序规定 Art. 18)."""
    await hold(session, case)
    if case.kind != "report" or case.status not in {"submitted", "verifying"}:
        raise WorkflowError(
            "not_extendable",
            "Only a report still being verified can be extended.",
            zh="只有仍在核查中的举报才能延长核查期限。",
        )
    if case.decision_due is None:
        raise WorkflowError(
            "not_extendable", "This case has no verification deadline.", zh="该案件没有核查期限。"
        )
    from bot.cases import get_case

    full = await get_case(session, case.case_no)
    if full is not None and _first(list(full.events), "extended") is not None:
        raise WorkflowError(
            "already_extended",
            "The verification period was already extended once.",
            zh="核查期限已经延长过一次。",
        )
    days = int(rules()["report_verification"]["extension_working_days"])
    case.decision_due = add_working_days(case.decision_due, days).due
    case.updated_at = now
    event = await _event(
        session, case, "extended", actor, now, due=case.decision_due.isoformat(), note=note
    )
    await _notify(session, case, event, "extended", now)
    await session.run_sync(handoff.enqueue, case, event, now=now)
    return event


async def record_reporter_notice(
    session: AsyncSession,
    case: Case,
    *,
    actor: str,
    now: datetime,
    handoff: Handoff,
    note: str = "",
) -> CaseEvent:
    """Staff told a real-name reporter the decision another way (e.g. by phone)."""
    await hold(session, case)
    if case.status not in DECISIONS or not real_name_reporter(case):
        raise WorkflowError(
            "no_notice_due",
            "No reporter notice is due on this case.",
            zh="该案件没有需要另行告知举报人的处理结果。",
        )
    case.decision_due, case.updated_at = None, now
    event = await _event(session, case, "reporter_notified", actor, now, via="staff", note=note)
    await session.run_sync(handoff.enqueue, case, event, now=now)
    return event


def pause_reasons() -> dict[str, dict[str, str]]:
    return dict(rules()["report_verification"]["pause_reasons"])


async def record_pause(
    session: AsyncSession,
    case: Case,
    *,
    actor: str,
    now: datetime,
    handoff: Handoff,
    reason: str,
    first: date,
    last: date,
    note: str = "",
) -> CaseEvent:
    """Time for testing, 鉴定 or the right-holder's identification does not count towards a
    report's verification deadline (行政处罚程序规定 Art. 18 ¶2): the deadline moves by the
    pause's working days, and the reporter is told the new date."""
    await hold(session, case)
    reasons = pause_reasons()
    if reason not in reasons:
        raise WorkflowError(
            "reason_required",
            "Choose a reason from the rules' list.",
            zh="请从规则列出的原因中选择一项。",
            reasons=list(reasons),
        )
    if case.kind != "report" or case.status not in {"submitted", "verifying"}:
        raise WorkflowError(
            "not_pausable",
            "Only a report still being verified can be paused.",
            zh="只有仍在核查中的举报才能暂停计时。",
        )
    if case.decision_due is None:
        raise WorkflowError(
            "not_pausable", "This case has no verification deadline.", zh="该案件没有核查期限。"
        )
    if last < first:
        raise WorkflowError(
            "invalid_pause", "The pause ends before it starts.", zh="暂停的结束日期早于开始日期。"
        )
    if first < local_date(case.submitted_at):
        raise WorkflowError(
            "invalid_pause",
            "The pause starts before the report was received.",
            zh="暂停的开始日期早于收到举报的日期。",
        )
    if first > case.decision_due:
        raise WorkflowError(
            "invalid_pause",
            "The pause starts after the deadline.",
            zh="暂停的开始日期晚于核查期限。",
        )
    moved = paused(case.decision_due, first, last)
    case.decision_due, case.updated_at = moved.due, now
    event = await _event(
        session,
        case,
        "paused",
        actor,
        now,
        reason=reason,
        first=first.isoformat(),
        last=last.isoformat(),
        working_days=moved.working_days,
        due=moved.due.isoformat(),
        note=note,
    )
    why = reasons[reason].get(case.locale, reasons[reason]["zh"])
    await _notify(session, case, event, "paused", now, reason=why, days=moved.working_days)
    await session.run_sync(handoff.enqueue, case, event, now=now)
    return event
