"""The audit log: every view or reveal of protected personal data leaves a row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.staff.models import AuditEntry


def record(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    target: str,
    now: datetime,
    reason: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """Add an audit row inside the caller's transaction, so the view and its record commit together."""
    session.add(
        AuditEntry(
            actor=actor, action=action, target=target, reason=reason, detail=detail or {}, at=now
        )
    )


async def entries_for(session: AsyncSession, target: str, limit: int = 100) -> list[AuditEntry]:
    stmt = (
        select(AuditEntry)
        .where(AuditEntry.target == target)
        .order_by(AuditEntry.id.desc())
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())
