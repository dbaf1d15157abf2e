"""Ports the dialogue engine calls; ``bot/`` implements them (no SDK or SQL types here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from dialogues.knowledge_port import KnowledgePort


@dataclass(frozen=True)
class CaseReceipt:
    """What the user is told after submitting: the number and the decision deadline."""

    case_no: str
    kind: str
    decision_due: date | None
    working_days: int | None
    calendar_estimated: bool = False
    merged: bool = False  # a duplicate report, linked to an open report on the same target
    linked_case_no: str | None = None  # the complaint/report filed together with this one


class CaseService(Protocol):
    async def submit(
        self,
        *,
        kind: str,
        fields: dict[str, Any],
        personal: dict[str, Any],
        evidence_ids: list[int],
    ) -> CaseReceipt: ...


@dataclass(frozen=True)
class CaseView:
    """One case as its owner may see it: no personal data, no other reporter's numbers."""

    case_no: str
    kind: str
    status: str
    last_change: datetime
    next_deadline: date | None
    merged: bool = False


ClaimResult = Literal["claimed", "mismatch", "locked"]


class CaseLookup(Protocol):
    """Status questions: the sender's own cases only; claiming one filed on another channel."""

    async def own_cases(self, *, limit: int = 5) -> list[CaseView]: ...

    async def own_case(self, case_no: str) -> CaseView | None:
        """The case if it belongs to the sender; None for unknown *and* foreign numbers."""
        ...

    async def claim(self, case_no: str, phone: str) -> tuple[ClaimResult, int]:
        """Try to claim ``case_no`` with the full mobile number given in it (normalised):
        (result, tries left). Unknown numbers are answered exactly like real ones."""
        ...

    async def attach_evidence(self, case_no: str, evidence_ids: list[int]) -> bool:
        """Attach loose photos to one of the sender's own cases; False if not theirs."""
        ...


@dataclass(frozen=True)
class HandoverTicket:
    """A place in the staff queue and a rough wait, in minutes."""

    request_id: int
    position: int
    wait_minutes: int
    already_queued: bool = False


class HandoverDesk(Protocol):
    """The staff queue as the conversation sees it (taking requests is the staff side's)."""

    async def request(self, *, reason: str, detail: str = "") -> HandoverTicket: ...

    async def cancel(self) -> bool:
        """Withdraw this conversation's queued request; False if none was queued."""
        ...


@dataclass(frozen=True)
class RewardLevel:
    level: int
    percent: Decimal
    minimum_yuan: int


@dataclass(frozen=True)
class CompensationRule:
    """A statutory damages rule: ``multiplier`` × price, at least ``minimum_yuan``."""

    key: str
    multiplier: int
    minimum_yuan: int
    refund_price: bool
    source: str
    loss_multiplier: int | None = None


class RuleBook(Protocol):
    """Numbers the bot states (reward levels, damages) read from cited data files."""

    def reward_levels(self) -> tuple[list[RewardLevel], int, str]:
        """(levels, cap in yuan, source)."""
        ...

    def compensation(self, key: str) -> CompensationRule | None:
        """``fraud`` or ``food``."""
        ...


class Normalizer(Protocol):
    """Field parsers (money, dates, phones, platforms) from the understanding layer."""

    def amount(self, text: str) -> Decimal | None: ...

    def date(self, text: str, now: datetime) -> date | None: ...

    def phone(self, text: str) -> str | None: ...

    def platform(self, text: str) -> str | None: ...


@dataclass
class Ports:
    """Everything a flow may reach outside itself, for one turn.

    The optional ports are None where a deployment or a test does not provide them; the
    answers that need them then say they cannot help rather than fail.
    """

    cases: CaseService
    normalizer: Normalizer
    extras: dict[str, Any] | None = None
    lookup: CaseLookup | None = None
    handover: HandoverDesk | None = None
    knowledge: KnowledgePort | None = None
    rules: RuleBook | None = None
