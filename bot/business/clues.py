"""Clue notices (线索通报): reports in one region about a business registered in another.

When a report is filed where the conduct happens and its business is registered under another
office (by its credit code's registration authority code or its registered address), that
office gets a notice in its queue: one per business, listing every such report, until its
staff acknowledge or dismiss it (audited). A later report on the business opens it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, UniqueConstraint, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot.business.identity import Respondent
from bot.business.offices import Directory
from bot.db.base import Base, UTCDateTime, utcnow
from bot.db.dialect import upsert_into
from bot.db.models import BigId, Case
from bot.reports import name_key
from bot.staff import audit
from bot.staff.accounts import Staff

DECISIONS = {"acknowledge": "acknowledged", "dismiss": "dismissed"}


class ClueNotice(Base):
    __tablename__ = "clue_notices"
    __table_args__ = (
        UniqueConstraint("office", "business_key", name="uq_clue_notices_business"),
        Index("ix_clue_notices_office_status", "office", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    office: Mapped[str] = mapped_column(String(32))  # where the business is registered
    business_key: Mapped[str] = mapped_column(String(240))  # uscc:<code> | name:<name>@<code>
    name: Mapped[str] = mapped_column(String(200))
    uscc: Mapped[str | None] = mapped_column(String(18))
    region_code: Mapped[str] = mapped_column(String(6))  # the registered region
    region_label: Mapped[str] = mapped_column(String(80))
    # [{"case_no", "office", "region"}] of each report, oldest first.
    reports: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


@dataclass(frozen=True)
class NoticeError(Exception):
    """A decision refused: the HTTP status, the API's code and English message, and what the
    console shows staff."""

    status: int
    code: str
    message: str
    zh: str


def business_key(seller: Respondent) -> str | None:
    """The business a notice is about: its credit code, else its name where it is registered."""
    if seller.uscc:
        return f"uscc:{seller.uscc}"
    folded = name_key(seller.name)
    if folded and seller.registered_region is not None:
        return f"name:{folded}@{seller.registered_region.code}"[:240]
    return None


def notify(
    session: Session, case: Case, seller: Respondent, directory: Directory, *, now: datetime
) -> str | None:
    """In the filing transaction: the office a report's business is registered under, told
    of it when that is not the office handling the report. Returns that office's key."""
    home = seller.registered_region
    key = business_key(seller)
    if case.kind != "report" or home is None or key is None or case.region_code is None:
        return None
    office = directory.route(home.code)
    if office is None or office.key == case.office:
        return None
    entry = {"case_no": case.case_no, "office": case.office, "region": case.region_code}
    # One notice per business and office, whoever files first (a unique row, then a locked read).
    session.execute(
        upsert_into(session, ClueNotice.__table__)
        .values(
            office=office.key,
            business_key=key,
            name=seller.name or seller.shop or seller.uscc or "",
            uscc=seller.uscc,
            region_code=home.code,
            region_label=home.label,
            reports=[],
            status="open",
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["office", "business_key"])
    )
    notice = session.execute(
        select(ClueNotice)
        .where(ClueNotice.office == office.key, ClueNotice.business_key == key)
        .with_for_update()
    ).scalar_one()
    notice.reports = [*notice.reports, entry]
    notice.status, notice.updated_at = "open", now
    notice.decided_by = notice.decided_at = None
    return office.key


async def open_notices(
    session: AsyncSession, *, office: str | None, limit: int = 50
) -> list[ClueNotice]:
    """Open notices for ``office`` (every office's when None), newest activity first."""
    stmt = select(ClueNotice).where(ClueNotice.status == "open")
    if office:
        stmt = stmt.where(ClueNotice.office == office)
    stmt = stmt.order_by(ClueNotice.updated_at.desc(), ClueNotice.id.desc()).limit(limit)
    return list((await session.execute(stmt)).scalars())


def may_decide(staff: Staff, notice: ClueNotice) -> bool:
    """The receiving office's agents, or a supervisor."""
    return staff.role == "supervisor" or (
        staff.role == "agent" and staff.office in (None, notice.office)
    )


async def decide(
    session: AsyncSession,
    notice_id: int,
    decision: str,
    *,
    staff: Staff,
    now: datetime,
    note: str = "",
    ip: str | None = None,
) -> ClueNotice:
    """Acknowledge (taken up) or dismiss an open notice; the decision is audited."""
    if decision not in DECISIONS:
        raise NoticeError(
            422,
            "unknown_decision",
            f"Decide one of: {', '.join(DECISIONS)}.",
            "未知的处理方式",
        )
    notice = await session.get(ClueNotice, notice_id, with_for_update=True)
    if notice is None or not may_decide(staff, notice):
        raise NoticeError(
            404, "not_found", f"No clue notice {notice_id}.", f"没有找到线索通报 {notice_id}"
        )
    if notice.status != "open":
        raise NoticeError(
            409, "decided", "The notice has already been decided.", "这条线索通报已处理"
        )
    notice.status, notice.decided_by, notice.decided_at = DECISIONS[decision], staff.actor, now
    notice.updated_at = now
    audit.record(
        session,
        actor=staff.actor,
        action=f"clue_{DECISIONS[decision]}",
        target=f"clue:{notice.id}",
        ip=ip or "",
        reason=note,
        detail={
            "office": notice.office,
            "business": notice.uscc or notice.name,
            "reports": [r["case_no"] for r in notice.reports],
        },
        now=now,
    )
    return notice
