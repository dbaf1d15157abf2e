"""Account lifecycle: deactivate and reactivate, change or reset a password, list and revoke
tokens. Every change is audited in the same transaction; a dead token is refused at once.

Who may do what: an admin manages every account; anyone else only their own (their password,
their tokens). The CLI runs with the server's database rights and acts as an admin.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.staff import audit
from bot.staff.accounts import AccountError, Staff
from bot.staff.models import StaffToken, StaffUser
from bot.staff.passwords import hash_password_off_loop, verify_password_off_loop


class NotFound(AccountError):
    """No such account, or no such token on that account."""


class NotAllowed(AccountError):
    """The signed-in person may not change this account."""


class WrongPassword(AccountError):
    """The current password given with a change is not the account's."""


def may_manage(actor: Staff, username: str) -> bool:
    """Admins manage every account; everyone manages their own sessions and password."""
    return actor.role == "admin" or actor.username == username


def ensure_may_manage(actor: Staff, username: str) -> None:
    if not may_manage(actor, username):
        raise NotAllowed("only an admin may manage another person's account")


async def find_user(session: AsyncSession, username: str) -> StaffUser:
    user = (
        await session.execute(select(StaffUser).where(StaffUser.username == username))
    ).scalar_one_or_none()
    if user is None:
        raise NotFound(f"no staff member {username!r}")
    return user


async def live_tokens(session: AsyncSession, user: StaffUser, *, now: datetime) -> list[StaffToken]:
    """Tokens and console sessions that still work, newest first."""
    stmt = (
        select(StaffToken)
        .where(
            StaffToken.user_id == user.id,
            StaffToken.revoked.is_(False),
            StaffToken.expires_at > now,
        )
        .order_by(StaffToken.id.desc())
    )
    return list((await session.execute(stmt)).scalars())


async def _revoke_ids(session: AsyncSession, ids: list[int]) -> None:
    if ids:
        await session.execute(update(StaffToken).where(StaffToken.id.in_(ids)).values(revoked=True))


async def revoke_tokens(
    session: AsyncSession,
    *,
    actor: str,
    username: str,
    now: datetime,
    token_id: int | None = None,
    keep: int | None = None,
    ip: str = "",
    why: str = "revoked",
) -> list[int]:
    """Revoke one token of ``username`` (``token_id``) or all of them but ``keep``; audited."""
    user = await find_user(session, username)
    tokens = [t.id for t in await live_tokens(session, user, now=now) if t.id != keep]
    if token_id is not None:
        if token_id not in tokens:
            raise NotFound(f"no live token {token_id} for {username!r}")
        tokens = [token_id]
    await _revoke_ids(session, tokens)
    if tokens:
        audit.record(
            session,
            actor=actor,
            action="token_revoked",
            target=audit.staff_actor(username),
            ip=ip,
            detail={"token_ids": tokens, "why": why},
            now=now,
        )
    return tokens


async def set_active(
    session: AsyncSession, *, actor: str, username: str, active: bool, now: datetime, ip: str = ""
) -> StaffUser:
    """Deactivate (every token dies with it) or reactivate an account."""
    if not active and actor == audit.staff_actor(username):
        raise NotAllowed("you cannot deactivate your own account; ask another admin")
    user = await find_user(session, username)
    user.active = active
    revoked: list[int] = []
    if not active:
        revoked = [t.id for t in await live_tokens(session, user, now=now)]
        await _revoke_ids(session, revoked)
    audit.record(
        session,
        actor=actor,
        action="account_reactivated" if active else "account_deactivated",
        target=audit.staff_actor(username),
        ip=ip,
        detail={"token_ids": revoked} if revoked else {},
        now=now,
    )
    return user


async def change_password(
    session: AsyncSession,
    *,
    staff: Staff,
    current: str,
    new: str,
    now: datetime,
    keep: int | None = None,
    ip: str = "",
) -> list[int]:
    """Change one's own password (the current one is required); other sessions are signed out."""
    user = await find_user(session, staff.username)
    if not await verify_password_off_loop(user.password_hash, current):
        raise WrongPassword("the current password is wrong")
    user.password_hash = await hash_password_off_loop(new)
    others = [t.id for t in await live_tokens(session, user, now=now) if t.id != keep]
    await _revoke_ids(session, others)
    audit.record(
        session,
        actor=staff.actor,
        action="password_changed",
        target=staff.actor,
        ip=ip,
        detail={"token_ids": others} if others else {},
        now=now,
    )
    return others


def generated_password() -> str:
    """Sixteen URL-safe random characters: well over the policy's minimum."""
    return secrets.token_urlsafe(12)


async def reset_password(
    session: AsyncSession,
    *,
    actor: str,
    username: str,
    now: datetime,
    new: str | None = None,
    ip: str = "",
) -> str:
    """An admin sets (or generates) someone's password; all their tokens die. Returns it once."""
    user = await find_user(session, username)
    password = new or generated_password()
    user.password_hash = await hash_password_off_loop(password)
    revoked = [t.id for t in await live_tokens(session, user, now=now)]
    await _revoke_ids(session, revoked)
    audit.record(
        session,
        actor=actor,
        action="password_reset",
        target=audit.staff_actor(username),
        ip=ip,
        detail={"generated": new is None, "token_ids": revoked},
        now=now,
    )
    return password


def token_dict(token: StaffToken, *, current: int | None = None) -> dict[str, object]:
    """What a person may see of a token: never its value or hash."""
    return {
        "id": token.id,
        "kind": token.kind,
        "issued_at": token.created_at.isoformat(),
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
        "expires_at": token.expires_at.isoformat(),
        "current": token.id == current,
    }
