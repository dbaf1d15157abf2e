"""The pipeline's view of the understanding layer, and adapters over ``nlu``."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from nlu import entities
from nlu.types import Parse


class Understanding(Protocol):
    async def parse(self, text: str, now: datetime) -> Parse: ...

    def status(self) -> dict[str, Any]: ...


class NluNormalizer:
    """Field parsers for typed answers, from ``nlu.entities``."""

    def amount(self, text: str) -> Decimal | None:
        return entities.parse_amount(text)

    def date(self, text: str, now: datetime) -> date | None:
        return entities.parse_date(text, now, allow_future=True)

    def phone(self, text: str) -> str | None:
        return entities.parse_phone(text)

    def platform(self, text: str) -> str | None:
        return entities.parse_platform(text)
