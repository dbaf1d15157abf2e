"""Ports the dialogue engine calls; ``bot/`` implements them (no SDK or SQL types here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol


@dataclass(frozen=True)
class CaseReceipt:
    """What the user is told after submitting: the number and the decision deadline."""

    case_no: str
    kind: str
    decision_due: date | None
    working_days: int | None
    calendar_estimated: bool = False


class CaseService(Protocol):
    async def submit(
        self,
        *,
        kind: str,
        fields: dict[str, Any],
        personal: dict[str, Any],
        evidence_ids: list[int],
    ) -> CaseReceipt: ...


class Normalizer(Protocol):
    """Field parsers (money, dates, phones, platforms) from the understanding layer."""

    def amount(self, text: str) -> Decimal | None: ...

    def date(self, text: str, now: datetime) -> date | None: ...

    def phone(self, text: str) -> str | None: ...

    def platform(self, text: str) -> str | None: ...


@dataclass
class Ports:
    """Everything a flow may reach outside itself, for one turn."""

    cases: CaseService
    normalizer: Normalizer
    extras: dict[str, Any] | None = None
