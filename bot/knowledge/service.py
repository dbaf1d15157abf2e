"""The object the app hands to the dialogue engine as its ``KnowledgePort``.

It only composes: CCC checks come from ``integrations.ccc.service.CccService`` (with
whichever registry adapter the settings chose), knowledge from ``KnowledgeBase``.
"""

from __future__ import annotations

import asyncio
from datetime import date
from functools import cache
from typing import Protocol

from bot.knowledge.base import KnowledgeBase
from dialogues.knowledge_port import (
    CatalogueAnswer,
    CertificateCheck,
    KnowledgeAnswer,
    ListingCheck,
    TypicalCase,
)
from integrations.ccc.service import CccService


class CaseShelf(Protocol):
    """Where published typical cases are read from (``bot.knowledge.cases.TypicalCases``)."""

    async def latest(self, *, category: str | None, limit: int) -> list[TypicalCase]: ...


class KnowledgeService:
    """Implements ``dialogues.knowledge_port.KnowledgePort``."""

    def __init__(
        self, ccc: CccService, knowledge: KnowledgeBase, cases: CaseShelf | None = None
    ) -> None:
        self.ccc = ccc
        self.knowledge = knowledge
        self.cases = cases

    async def check_certificate(
        self, text: str, *, product: str | None = None, on: date | None = None
    ) -> CertificateCheck:
        return await self.ccc.check_certificate(text, product=product, on=on)

    async def check_listing(self, text: str, *, on: date | None = None) -> ListingCheck:
        return await self.ccc.check_listing(text, on=on)

    async def ccc_required(self, product: str, *, on: date | None = None) -> CatalogueAnswer:
        return await self.ccc.ccc_required(product, on=on)

    async def ask(self, question: str) -> KnowledgeAnswer:
        # Tokenising and scoring are CPU work of well under a millisecond per question.
        return self.knowledge.ask(question)

    async def refer(self, question: str) -> KnowledgeAnswer | None:
        return self.knowledge.refer(question)

    async def typical_cases(
        self, *, category: str | None = None, limit: int = 3
    ) -> list[TypicalCase]:
        if self.cases is None:
            return []
        return await self.cases.latest(category=category, limit=limit)


@cache
def _shared_knowledge_base() -> KnowledgeBase:
    # The index is immutable once built, so every app in the process can share one.
    return KnowledgeBase.load()


async def load_knowledge_base() -> KnowledgeBase:
    """Build the index off the event loop: jieba's dictionary takes about a second to load."""
    return await asyncio.to_thread(_shared_knowledge_base)
