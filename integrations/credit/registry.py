"""The credit registry port and the embedded adapter on the app's database.

Like the certificate registry (``integrations.ccc.registry``): the embedded table filled by
``weiquan credit import``, or an outside service (``http_registry.HttpCreditRegistry``).
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from dialogues.credit_port import CreditList, CreditRecord
from integrations.credit.models import CreditEntry
from integrations.credit.reader import folded_name

MAX_RECORDS = 20


class RegistryUnavailable(Exception):
    """The registry could not answer (timeout, server error); not the same as "no record"."""


class CreditRegistry(Protocol):
    async def by_code(self, uscc: str) -> list[CreditRecord]:
        """Every listing (current and removed) of the business with this valid code, newest
        first; empty when it has none. Raises RegistryUnavailable when it cannot answer."""
        ...

    async def by_name(self, name: str) -> list[CreditRecord]:
        """Listings of businesses whose registered name is ``name`` (folded), newest first."""
        ...


def to_record(row: CreditEntry) -> CreditRecord:
    return CreditRecord(
        uscc=row.uscc,
        name=row.name,
        list=CreditList(row.list),
        reason=row.reason,
        listed_on=row.listed_on,
        authority=row.authority,
        removed_on=row.removed_on,
        is_sample=row.is_sample,
    )


class EmbeddedCreditRegistry:
    """Looks listings up in the ``credit_entries`` table."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession] | AsyncEngine) -> None:
        if isinstance(sessions, AsyncEngine):
            sessions = async_sessionmaker(sessions, expire_on_commit=False)
        self._sessions = sessions

    async def by_code(self, uscc: str) -> list[CreditRecord]:
        return await self._select(CreditEntry.uscc == uscc)

    async def by_name(self, name: str) -> list[CreditRecord]:
        key = folded_name(name)
        return await self._select(CreditEntry.name_key == key) if key else []

    async def _select(self, where: object) -> list[CreditRecord]:
        stmt = (
            select(CreditEntry)
            .where(where)  # type: ignore[arg-type]
            .order_by(CreditEntry.listed_on.desc(), CreditEntry.list)
            .limit(MAX_RECORDS)
        )
        async with self._sessions() as session:
            return [to_record(r) for r in (await session.scalars(stmt))]


def listings_in(session: Session, *, uscc: str | None, name: str | None) -> list[dict[str, Any]]:
    """The embedded table's listings for a case being filed (the turn's own transaction):
    by code (``match: "code"``), else by registered name (``match: "name"``, possibly another
    business of that name, for staff to judge)."""
    if uscc:
        where, match = CreditEntry.uscc == uscc, "code"
    elif name and folded_name(name):
        where, match = CreditEntry.name_key == folded_name(name), "name"
    else:
        return []
    stmt = (
        select(CreditEntry)
        .where(where)
        .order_by(CreditEntry.listed_on.desc(), CreditEntry.list)
        .limit(MAX_RECORDS)
    )
    return [
        {
            "match": match,
            "uscc": r.uscc,
            "name": r.name,
            "list": r.list,
            "reason": r.reason,
            "listed_on": r.listed_on.isoformat(),
            "authority": r.authority,
            "removed_on": r.removed_on.isoformat() if r.removed_on else None,
            "is_sample": r.is_sample,
        }
        for r in session.scalars(stmt)
    ]
