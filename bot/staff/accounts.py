"""Creating staff accounts and checking logins, with a login rate limit kept in the database."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from bot.staff.models import ROLES, LoginAttempt, StaffToken, StaffUser
from bot.staff.passwords import hash_password, needs_rehash, verify_password

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,25}$")


@dataclass(frozen=True)
class Staff:
    """The signed-in staff member as routes see it (no password hash travels further)."""

    id: int
    username: str
    role: str
    display_name: str = ""

    @property
    def actor(self) -> str:
        return f"staff:{self.username}"


class AccountError(ValueError):
    """A username, role or password that cannot be used."""


class TooManyAttempts(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__("too many login attempts")
        self.retry_after = retry_after


async def add_staff(
    session: AsyncSession, *, username: str, password: str, role: str, now: datetime
) -> StaffUser:
    if not USERNAME.match(username):
        raise AccountError("username: 2–26 lower-case letters, digits, '.', '_' or '-'")
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    exists = await session.execute(select(StaffUser.id).where(StaffUser.username == username))
    if exists.first() is not None:
        raise AccountError(f"staff member {username!r} already exists")
    user = StaffUser(
        username=username,
        display_name=username,
        password_hash=hash_password(password),
        role=role,
        active=True,
        created_at=now,
    )
    session.add(user)
    await session.flush()
    return user


async def _failures(
    session: AsyncSession, column: InstrumentedAttribute[str], value: str, since: datetime
) -> int:
    stmt = select(func.count()).where(
        column == value,
        LoginAttempt.succeeded.is_(False),
        LoginAttempt.at >= since,
    )
    return int((await session.execute(stmt)).scalar_one())


async def check_login(
    session: AsyncSession,
    *,
    username: str,
    password: str,
    ip: str,
    now: datetime,
    max_failures: int,
    window: timedelta,
) -> Staff | None:
    """The staff member for good credentials, None for bad ones; raises when rate-limited.

    Limits count failures per username and (more loosely) per client address in a sliding
    window, so neither one account nor one address can be guessed at speed.
    """
    since = now - window
    if (
        await _failures(session, LoginAttempt.username, username, since) >= max_failures
        or await _failures(session, LoginAttempt.ip, ip, since) >= max_failures * 4
    ):
        raise TooManyAttempts(int(window.total_seconds()))
    user = (
        await session.execute(select(StaffUser).where(StaffUser.username == username))
    ).scalar_one_or_none()
    ok = verify_password(user.password_hash if user else None, password)
    ok = ok and user is not None and user.active
    session.add(LoginAttempt(username=username[:64], ip=ip[:64], succeeded=ok, at=now))
    if not ok or user is None:
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = now
    return Staff(user.id, user.username, user.role, user.display_name)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def issue_token(
    session: AsyncSession, staff: Staff, *, kind: str, ttl: timedelta, now: datetime
) -> tuple[str, StaffToken]:
    """A random token; the database keeps only its hash (and a CSRF secret for sessions)."""
    token = secrets.token_urlsafe(32)
    row = StaffToken(
        token_hash=_digest(token),
        user_id=staff.id,
        kind=kind,
        csrf=secrets.token_urlsafe(24),
        created_at=now,
        expires_at=now + ttl,
        revoked=False,
    )
    session.add(row)
    await session.flush()
    return token, row


async def resolve_token(
    session: AsyncSession, token: str, *, kind: str, now: datetime
) -> tuple[Staff, StaffToken] | None:
    stmt = (
        select(StaffToken, StaffUser)
        .join(StaffUser, StaffUser.id == StaffToken.user_id)
        .where(StaffToken.token_hash == _digest(token), StaffToken.kind == kind)
    )
    found = (await session.execute(stmt)).first()
    if found is None:
        return None
    row, user = found
    if row.revoked or row.expires_at <= now or not user.active:
        return None
    return Staff(user.id, user.username, user.role, user.display_name), row


async def revoke(session: AsyncSession, token: str) -> None:
    await session.execute(
        update(StaffToken).where(StaffToken.token_hash == _digest(token)).values(revoked=True)
    )


async def list_staff(session: AsyncSession) -> list[StaffUser]:
    return list((await session.execute(select(StaffUser).order_by(StaffUser.username))).scalars())


# How long expired or revoked tokens, and login attempts, are kept before housekeeping.
TOKEN_GRACE = timedelta(days=1)
ATTEMPTS_KEPT = timedelta(days=30)


async def purge_expired(session: AsyncSession, *, now: datetime) -> tuple[int, int]:
    """Delete tokens a day past expiry or revocation and login attempts older than 30 days
    (far beyond any rate-limit window); returns (tokens, attempts) deleted."""
    tokens = await session.execute(
        delete(StaffToken).where(
            or_(
                StaffToken.expires_at < now - TOKEN_GRACE,
                StaffToken.revoked.is_(True) & (StaffToken.created_at < now - TOKEN_GRACE),
            )
        )
    )
    attempts = await session.execute(
        delete(LoginAttempt).where(LoginAttempt.at < now - ATTEMPTS_KEPT)
    )
    return int(getattr(tokens, "rowcount", 0) or 0), int(getattr(attempts, "rowcount", 0) or 0)
