"""Ports the dialogue engine calls; ``bot/`` implements them (no SDK or SQL types here)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from dialogues.credit_port import CreditChecks
    from dialogues.knowledge_port import KnowledgePort
    from dialogues.reading import PhotoChecks


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
    # An anonymous reporter's identity code for a reward claim (国市监稽规〔2021〕4号).
    identity_code: str | None = None


@dataclass(frozen=True)
class CaseView:
    """One case as its owner may see it: no personal data, no other reporter's numbers."""

    case_no: str
    kind: str
    status: str
    last_change: datetime
    next_deadline: date | None
    merged: bool = False
    # Forwarded to the office with jurisdiction: which office, and the day its clock restarted.
    office: str | None = None
    forwarded_on: date | None = None


ClaimResult = Literal["claimed", "mismatch", "locked"]


class CaseLookup(Protocol):
    """Status questions read the sender's own cases only (claiming one filed on another
    channel, and attaching photos, are actions: ``dialogues.actions``)."""

    async def own_cases(self, *, limit: int = 5) -> list[CaseView]: ...

    async def own_case(self, case_no: str) -> CaseView | None:
        """The case if it belongs to the sender; None for unknown *and* foreign numbers."""
        ...


@dataclass(frozen=True)
class HandoverTicket:
    """A place in the staff queue and a rough wait, in minutes."""

    request_id: int
    position: int
    wait_minutes: int
    already_queued: bool = False
    # Outside staff hours: when staff next start (local time), and the hours per language.
    opens_at: datetime | None = None
    staff_hours: Mapping[str, str] = field(default_factory=dict)


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
    """Everything a flow may read outside itself, for one turn; none of it writes.

    The optional ports are None where a deployment or a test does not provide them; the
    answers that need them then say they cannot help rather than fail.
    """

    normalizer: Normalizer
    extras: dict[str, Any] | None = None
    lookup: CaseLookup | None = None
    knowledge: KnowledgePort | None = None
    rules: RuleBook | None = None
    # One-way hash for a secret the user sets (a report password): the form keeps only this.
    hash_secret: Callable[[str], str] | None = None
    # Photos are read (``ReadPhoto``) and their readings checked only where this is given.
    photos: PhotoChecks | None = None
    credit: CreditChecks | None = None
