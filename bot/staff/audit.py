"""The audit log: logins, tokens, account changes and every view of personal data leave a row.

``record`` adds the row to the caller's transaction, so a view and its record commit together;
``log`` does the same, or, in a read-only session, writes the row in its own short transaction
before the caller answers. ``search`` is what supervisors read, newest first.
"""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from typing import Any, TypedDict, Unpack

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.db.engine import READ_ONLY
from bot.staff.models import AuditEntry

ANONYMOUS = "anonymous"


def staff_actor(username: str) -> str:
    """How a staff member is named in ``actor`` and ``target`` (``staff:li``)."""
    return f"staff:{username}"


def os_actor(name: str | None = None) -> str:
    """Who runs a command-line action: ``--as NAME`` or the operating-system user."""
    return f"cli:{(name or getpass.getuser()).strip()}"


def person(value: str) -> str:
    """A filter value as people type it: a bare username means that staff member."""
    value = value.strip()
    return value if ":" in value or value == ANONYMOUS else staff_actor(value)


def writer_for(session: AsyncSession) -> AsyncEngine | None:
    """None when ``session`` may write; for a read-only session, an engine on the same
    database whose sessions may (SQLite lets one writer run beside a reader's snapshot)."""
    bind = session.bind
    if not isinstance(bind, AsyncEngine) or not bind.get_execution_options().get(READ_ONLY):
        return None
    return bind.execution_options(**{READ_ONLY: False})


class Fields(TypedDict, total=False):
    """What an audit row may say beyond who did what (``target`` defaults to the case)."""

    now: datetime | None
    target: str
    case_no: str | None
    conversation_id: int | None
    ip: str
    reason: str
    detail: dict[str, Any] | None


def _entry(actor: str, action: str, fields: Fields) -> AuditEntry:
    case_no, conversation_id = fields.get("case_no"), fields.get("conversation_id")
    target = (
        fields.get("target")
        or case_no
        or (f"conversation:{conversation_id}" if conversation_id else "")
    )
    return AuditEntry(
        actor=actor[:64],
        action=action[:32],
        target=target[:64],
        case_no=case_no,
        conversation_id=conversation_id,
        ip=fields.get("ip", "")[:64],
        reason=fields.get("reason", ""),
        detail=fields.get("detail") or {},
        at=fields.get("now") or datetime.now(UTC),
    )


def record(session: AsyncSession, *, actor: str, action: str, **fields: Unpack[Fields]) -> None:
    """Add an audit row inside the caller's transaction (``target`` defaults to the case)."""
    session.add(_entry(actor, action, fields))


async def log(session: AsyncSession, *, actor: str, action: str, **fields: Unpack[Fields]) -> None:
    """Like ``record``, for any session: a read-only one cannot write, so the row is committed
    at once through a short write transaction of its own (before the caller answers)."""
    entry = _entry(actor, action, fields)
    writer = writer_for(session)
    if writer is None:
        session.add(entry)
        return
    async with AsyncSession(writer) as own, own.begin():
        own.add(entry)


async def entries_for(session: AsyncSession, target: str, limit: int = 100) -> list[AuditEntry]:
    stmt = (
        select(AuditEntry)
        .where(AuditEntry.target == target)
        .order_by(AuditEntry.id.desc())
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def search(
    session: AsyncSession,
    *,
    actor: str | None = None,
    case_no: str | None = None,
    before: int | None = None,
    limit: int = 50,
) -> list[AuditEntry]:
    """Rows newest first; ``actor`` matches what a person did and what was done to their
    account (failed logins in their name, resets); ``before`` is the last id already shown."""
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if actor:
        who = person(actor)
        stmt = stmt.where(or_(AuditEntry.actor == who, AuditEntry.target == who))
    if case_no:
        stmt = stmt.where(AuditEntry.case_no == case_no.strip())
    if before is not None:
        stmt = stmt.where(AuditEntry.id < before)
    return list((await session.execute(stmt)).scalars())


def as_dict(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": entry.at.isoformat(),
        "actor": entry.actor,
        "action": entry.action,
        "target": entry.target,
        "case_no": entry.case_no,
        "conversation_id": entry.conversation_id,
        "ip": entry.ip,
        "reason": entry.reason,
        "detail": entry.detail,
    }
