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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Select, func, or_, select, update
from sqlalchemy.orm import Session

from bot.cases import Filer
from bot.conversations import serialise
from bot.db.models import Case, CaseClaim, CaseEvent, Evidence
from bot.deadlines import local_date
from bot.staff.push import notice, push
from dialogues.actions import AttachEvidence, ClaimCase, ClaimReceipt
from dialogues.ports import CaseView
from nlu.entities import parse_phone

if TYPE_CHECKING:
    from bot.settings import Settings

# Runs a function on a read-only session and returns its result.
Read = Callable[[Callable[[Session], Any]], Awaitable[Any]]
# Statuses whose decision deadline is still ahead of the office.
WAITING = {"submitted", "forwarded", "verifying"}


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
        chat = settings.chat
        return cls(
            case_failures=chat.claim_case_failures,
            case_window=timedelta(hours=chat.claim_case_window_hours),
            claimant_failures=chat.claim_address_failures,
            claimant_window=timedelta(minutes=chat.claim_address_window_minutes),
            secret=settings.security.secret_key.encode(),
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


def _claimed(filer: Filer) -> Select[str]:
    return select(CaseClaim.case_no).where(
        CaseClaim.channel == filer.channel,
        CaseClaim.sender_id == filer.sender_id,
        CaseClaim.succeeded.is_(True),
    )


def _own(filer: Filer) -> ColumnElement[bool]:
    return or_(
        (Case.channel == filer.channel) & (Case.sender_id == filer.sender_id),
        Case.case_no.in_(_claimed(filer)),
    )


def _view(session: Session, case: Case) -> CaseView:
    last_event = session.execute(
        select(func.max(CaseEvent.at)).where(CaseEvent.case_id == case.id)
    ).scalar_one_or_none()
    last = max(filter(None, (case.updated_at, last_event)))
    forwarded = session.execute(
        select(CaseEvent.at, CaseEvent.detail)
        .where(CaseEvent.case_id == case.id, CaseEvent.kind == "forwarded")
        .order_by(CaseEvent.id.desc())
        .limit(1)
    ).first()
    return CaseView(
        case_no=case.case_no,
        kind=case.kind,
        status=case.status,
        last_change=last,
        next_deadline=case.decision_due if case.status in WAITING else None,
        merged=case.duplicate_of_id is not None,
        office=(forwarded.detail.get("office_name") or None) if forwarded else None,
        forwarded_on=local_date(forwarded.at) if forwarded else None,
    )


def own_cases(session: Session, filer: Filer, *, limit: int = 5) -> list[CaseView]:
    stmt = select(Case).where(_own(filer)).order_by(Case.id.desc()).limit(limit)
    return [_view(session, c) for c in session.execute(stmt).scalars()]


def own_case(session: Session, filer: Filer, case_no: str) -> CaseView | None:
    stmt = select(Case).where(Case.case_no == case_no.strip().upper(), _own(filer))
    case = session.execute(stmt).scalar_one_or_none()
    return _view(session, case) if case is not None else None


class CaseReads:
    """Implements ``dialogues.ports.CaseLookup``: the sender's own cases, read outside the
    turn's transaction through ``read`` (which runs a function on a read-only session)."""

    def __init__(self, read: Read, filer: Filer) -> None:
        self.read = read
        self.filer = filer

    async def own_cases(self, *, limit: int = 5) -> list[CaseView]:
        return await self.read(lambda session: own_cases(session, self.filer, limit=limit))

    async def own_case(self, case_no: str) -> CaseView | None:
        return await self.read(lambda session: own_case(session, self.filer, case_no))


class Claims:
    """Claiming a case by its phone number, with failures counted per case and claimant."""

    def __init__(self, policy: ClaimPolicy | None = None) -> None:
        self.policy = policy or ClaimPolicy()

    def _claimant(self, filer: Filer) -> ColumnElement[bool]:
        """This claimant's tries: from its client address (REST) or as this sender."""
        sender = (CaseClaim.channel == filer.channel) & (CaseClaim.sender_id == filer.sender_id)
        address_hash = self.policy.address_hash(filer.client_address)
        if address_hash is None:
            return sender
        return or_(CaseClaim.address_hash == address_hash, sender)

    @staticmethod
    def _failures(session: Session, *where: ColumnElement[bool]) -> int:
        stmt = select(func.count()).where(CaseClaim.succeeded.is_(False), *where)
        return int(session.execute(stmt).scalar_one())

    def _serialise(self, session: Session, filer: Filer, case_no: str) -> None:
        """On PostgreSQL, claims on one case and from one claimant wait for each other, so a
        parallel burst cannot read the same count; SQLite writers are serial already."""
        who = self.policy.address_hash(filer.client_address) or filer.sender_id
        serialise(session, f"claim:case:{case_no}", f"claim:who:{who}")

    def claim(self, session: Session, filer: Filer, action: ClaimCase) -> ClaimReceipt:
        """Try the phone (normalised) against the case's: the result, tries left before a
        lock, and the case as its new owner sees it when the claim succeeds."""
        case_no = action.case_no.strip().upper()
        policy, now = self.policy, filer.now
        self._serialise(session, filer, case_no)
        on_case = self._failures(
            session, CaseClaim.case_no == case_no, CaseClaim.at > now - policy.case_window
        )
        by_claimant = self._failures(
            session, self._claimant(filer), CaseClaim.at > now - policy.claimant_window
        )
        if on_case >= policy.case_failures or by_claimant >= policy.claimant_failures:
            return ClaimReceipt("locked", 0)
        case = session.execute(select(Case).where(Case.case_no == case_no)).scalar_one_or_none()
        recorded = str((case.personal or {}).get("phone") or "") if case is not None else ""
        ok = same_phone(action.phone, recorded)
        locks = not ok and on_case + 1 >= policy.case_failures
        if locks and case is not None and not self._owner_told(session, case_no, now):
            self._tell_owner(session, case, now)
        session.add(
            CaseClaim(
                case_no=case_no,
                channel=filer.channel,
                sender_id=filer.sender_id,
                address_hash=policy.address_hash(filer.client_address),
                succeeded=ok,
                locked=locks,
                at=now,
            )
        )
        session.flush()
        if ok:
            view = own_case(session, filer, case_no)
            return ClaimReceipt("claimed", policy.case_failures - on_case, view)
        left = min(policy.case_failures - on_case, policy.claimant_failures - by_claimant) - 1
        return ClaimReceipt("locked" if left <= 0 else "mismatch", left)

    def _owner_told(self, session: Session, case_no: str, now: datetime) -> bool:
        """Whether an earlier lock of this case within the window was already reported."""
        stmt = select(CaseClaim.id).where(
            CaseClaim.case_no == case_no,
            CaseClaim.locked.is_(True),
            CaseClaim.at > now - self.policy.case_window,
        )
        return session.execute(stmt.limit(1)).first() is not None

    def _tell_owner(self, session: Session, case: Case, now: datetime) -> None:
        """A push to the channel and sender that filed the case, like any case notice."""
        hours = max(1, round(self.policy.case_window.total_seconds() / 3600))
        push(
            session,
            channel=case.channel,
            recipient_id=case.sender_id,
            text=notice(
                case.locale, "claim_locked", case_no=case.case_no, kind=case.kind, hours=hours
            ),
            source=f"claim_locked.{case.case_no}.{int(now.timestamp())}",
            now=now,
            conversation_id=case.conversation_id,
            custom={"case_no": case.case_no},
        )


def attach(session: Session, filer: Filer, action: AttachEvidence) -> bool:
    """Attach loose photos to one of the sender's own cases; False if it is not theirs."""
    stmt = select(Case).where(Case.case_no == action.case_no.strip().upper(), _own(filer))
    case = session.execute(stmt).scalar_one_or_none()
    if case is None or not action.evidence_ids:
        return False
    session.execute(
        update(Evidence)
        .where(
            Evidence.id.in_(action.evidence_ids),
            Evidence.conversation_id == filer.conversation_id,
            Evidence.case_id.is_(None),
        )
        .values(case_id=case.id)
    )
    session.add(
        CaseEvent(
            case_id=case.id,
            kind="evidence_added",
            detail={"evidence": len(action.evidence_ids)},
            actor=f"{filer.channel}:user",
            at=filer.now,
        )
    )
    case.updated_at = filer.now
    session.flush()
    return True
