"""The engine's CaseLookup: the sender's own cases, claims by phone digits, late evidence.

"Own" means filed from this channel and sender, or claimed here with the last four digits
of the phone given in the case. Anything else is treated exactly like an unknown number.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Select, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Case, CaseClaim, CaseEvent, Evidence
from dialogues.ports import CaseView, ClaimResult

MAX_CLAIM_TRIES = 3
# Statuses whose decision deadline is still ahead of the office.
WAITING = {"submitted", "verifying"}


class SessionCaseLookup:
    """Implements ``dialogues.ports.CaseLookup`` inside the message's transaction."""

    def __init__(
        self,
        session: AsyncSession,
        *,
        conversation_id: int,
        channel: str,
        sender_id: str,
        now: datetime,
    ) -> None:
        self.session = session
        self.conversation_id = conversation_id
        self.channel = channel
        self.sender_id = sender_id
        self.now = now

    def _claimed(self) -> Select[str]:
        return select(CaseClaim.case_no).where(
            CaseClaim.channel == self.channel,
            CaseClaim.sender_id == self.sender_id,
            CaseClaim.succeeded.is_(True),
        )

    def _own(self) -> ColumnElement[bool]:
        return or_(
            (Case.channel == self.channel) & (Case.sender_id == self.sender_id),
            Case.case_no.in_(self._claimed()),
        )

    async def _view(self, case: Case) -> CaseView:
        last_event = (
            await self.session.execute(
                select(func.max(CaseEvent.at)).where(CaseEvent.case_id == case.id)
            )
        ).scalar_one_or_none()
        last = max(filter(None, (case.updated_at, last_event)))
        return CaseView(
            case_no=case.case_no,
            kind=case.kind,
            status=case.status,
            last_change=last,
            next_deadline=case.decision_due if case.status in WAITING else None,
            merged=case.duplicate_of_id is not None,
        )

    async def own_cases(self, *, limit: int = 5) -> list[CaseView]:
        stmt = select(Case).where(self._own()).order_by(Case.id.desc()).limit(limit)
        return [await self._view(c) for c in (await self.session.execute(stmt)).scalars()]

    async def own_case(self, case_no: str) -> CaseView | None:
        stmt = select(Case).where(Case.case_no == case_no.strip().upper(), self._own())
        case = (await self.session.execute(stmt)).scalar_one_or_none()
        return await self._view(case) if case is not None else None

    async def claim(self, case_no: str, last_four: str) -> tuple[ClaimResult, int]:
        case_no = case_no.strip().upper()
        failed = (
            await self.session.execute(
                select(func.count()).where(
                    CaseClaim.case_no == case_no,
                    CaseClaim.channel == self.channel,
                    CaseClaim.sender_id == self.sender_id,
                    CaseClaim.succeeded.is_(False),
                )
            )
        ).scalar_one()
        if failed >= MAX_CLAIM_TRIES:
            return "locked", 0
        case = (
            await self.session.execute(select(Case).where(Case.case_no == case_no))
        ).scalar_one_or_none()
        phone = str((case.personal or {}).get("phone") or "") if case is not None else ""
        ok = len(phone) >= 4 and phone[-4:] == last_four
        self.session.add(
            CaseClaim(
                case_no=case_no,
                channel=self.channel,
                sender_id=self.sender_id,
                succeeded=ok,
                at=self.now,
            )
        )
        await self.session.flush()
        if ok:
            return "claimed", MAX_CLAIM_TRIES - int(failed)
        left = MAX_CLAIM_TRIES - int(failed) - 1
        return ("locked" if left <= 0 else "mismatch"), left

    async def attach_evidence(self, case_no: str, evidence_ids: list[int]) -> bool:
        stmt = select(Case).where(Case.case_no == case_no.strip().upper(), self._own())
        case = (await self.session.execute(stmt)).scalar_one_or_none()
        if case is None or not evidence_ids:
            return False
        await self.session.execute(
            update(Evidence)
            .where(
                Evidence.id.in_(evidence_ids),
                Evidence.conversation_id == self.conversation_id,
                Evidence.case_id.is_(None),
            )
            .values(case_id=case.id)
        )
        self.session.add(
            CaseEvent(
                case_id=case.id,
                kind="evidence_added",
                detail={"evidence": len(evidence_ids)},
                actor=f"{self.channel}:user",
                at=self.now,
            )
        )
        case.updated_at = self.now
        return True
