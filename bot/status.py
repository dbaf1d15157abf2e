"""The engine's CaseLookup: the sender's own cases, claims by phone number, late evidence.

"Own" means filed from this channel and sender, or claimed here with the full mobile number
given in the case. Anything else is treated exactly like an unknown number.

Claims are a guessing target (case numbers are sequential), so failures are counted per case
across all senders and per claimant (client address, and sender), within windows; a case or a
claimant over its limit is locked, unknown numbers included, and the owner of a real case is
told once when someone locks it.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, Select, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Case, CaseClaim, CaseEvent, Evidence
from bot.staff.push import notice, push
from dialogues.ports import CaseView, ClaimResult
from nlu.entities import parse_phone

if TYPE_CHECKING:
    from bot.settings import Settings

# Statuses whose decision deadline is still ahead of the office.
WAITING = {"submitted", "verifying"}


@dataclass(frozen=True)
class ClaimPolicy:
    """How many failed claims lock a case (whoever tries) and a claimant, and for how long."""

    case_failures: int = 5
    case_window: timedelta = timedelta(hours=24)
    claimant_failures: int = 20
    claimant_window: timedelta = timedelta(hours=1)
    # Keys the address hash, so stored claims do not hold client addresses.
    secret: bytes = b"weiquan-claims"

    @classmethod
    def from_settings(cls, settings: Settings) -> ClaimPolicy:
        return cls(
            case_failures=settings.claim_case_failures,
            case_window=timedelta(hours=settings.claim_case_window_hours),
            claimant_failures=settings.claim_address_failures,
            claimant_window=timedelta(minutes=settings.claim_address_window_minutes),
            secret=settings.secret_key.encode(),
        )

    def address_hash(self, address: str | None) -> str | None:
        if not address:
            return None
        return hmac.new(self.secret, address.encode(), hashlib.sha256).hexdigest()


def same_phone(given: str, recorded: str) -> bool:
    """Both numbers normalised (``+86 139-1234-5678`` is ``13912345678``), compared in
    constant time; a case without a mobile number can never be claimed."""
    recorded = parse_phone(recorded) or ""
    return bool(recorded) and hmac.compare_digest(given.encode(), recorded.encode())


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
        client_address: str | None = None,
        policy: ClaimPolicy | None = None,
    ) -> None:
        self.session = session
        self.conversation_id = conversation_id
        self.channel = channel
        self.sender_id = sender_id
        self.now = now
        self.policy = policy or ClaimPolicy()
        self.address_hash = self.policy.address_hash(client_address)

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

    def _claimant(self) -> ColumnElement[bool]:
        """This claimant's tries: from its client address (REST) or as this sender."""
        sender = (CaseClaim.channel == self.channel) & (CaseClaim.sender_id == self.sender_id)
        if self.address_hash is None:
            return sender
        return or_(CaseClaim.address_hash == self.address_hash, sender)

    async def _failures(self, *where: ColumnElement[bool]) -> int:
        stmt = select(func.count()).where(CaseClaim.succeeded.is_(False), *where)
        return int((await self.session.execute(stmt)).scalar_one())

    async def _serialise(self, case_no: str) -> None:
        """On PostgreSQL, claims on one case and from one claimant wait for each other, so a
        parallel burst cannot read the same count; SQLite writers are serial already."""
        bind = self.session.bind
        if bind is None or bind.dialect.name != "postgresql":
            return
        keys = [f"claim:case:{case_no}", f"claim:who:{self.address_hash or self.sender_id}"]
        for key in keys:  # always in this order: no two claims wait on each other in a cycle
            await self.session.execute(select(func.pg_advisory_xact_lock(func.hashtext(key))))

    async def claim(self, case_no: str, phone: str) -> tuple[ClaimResult, int]:
        """Try ``phone`` (normalised) against the case's: (result, tries left before a lock)."""
        case_no = case_no.strip().upper()
        policy = self.policy
        await self._serialise(case_no)
        on_case = await self._failures(
            CaseClaim.case_no == case_no, CaseClaim.at > self.now - policy.case_window
        )
        by_claimant = await self._failures(
            self._claimant(), CaseClaim.at > self.now - policy.claimant_window
        )
        if on_case >= policy.case_failures or by_claimant >= policy.claimant_failures:
            return "locked", 0
        case = (
            await self.session.execute(select(Case).where(Case.case_no == case_no))
        ).scalar_one_or_none()
        recorded = str((case.personal or {}).get("phone") or "") if case is not None else ""
        ok = same_phone(phone, recorded)
        locks = not ok and on_case + 1 >= policy.case_failures
        if locks and case is not None and not await self._owner_told(case_no):
            await self._tell_owner(case)
        self.session.add(
            CaseClaim(
                case_no=case_no,
                channel=self.channel,
                sender_id=self.sender_id,
                address_hash=self.address_hash,
                succeeded=ok,
                locked=locks,
                at=self.now,
            )
        )
        await self.session.flush()
        if ok:
            return "claimed", policy.case_failures - on_case
        left = min(policy.case_failures - on_case, policy.claimant_failures - by_claimant) - 1
        return ("locked" if left <= 0 else "mismatch"), left

    async def _owner_told(self, case_no: str) -> bool:
        """Whether an earlier lock of this case within the window was already reported."""
        stmt = select(CaseClaim.id).where(
            CaseClaim.case_no == case_no,
            CaseClaim.locked.is_(True),
            CaseClaim.at > self.now - self.policy.case_window,
        )
        return (await self.session.execute(stmt.limit(1))).first() is not None

    async def _tell_owner(self, case: Case) -> None:
        """A push to the channel and sender that filed the case, like any case notice."""
        hours = max(1, round(self.policy.case_window.total_seconds() / 3600))
        await push(
            self.session,
            channel=case.channel,
            recipient_id=case.sender_id,
            text=notice(
                case.locale, "claim_locked", case_no=case.case_no, kind=case.kind, hours=hours
            ),
            key=f"claim_locked:{case.case_no}:{int(self.now.timestamp())}",
            now=self.now,
            conversation_id=case.conversation_id,
            custom={"case_no": case.case_no},
        )

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
