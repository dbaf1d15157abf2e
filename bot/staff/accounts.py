"""Creating staff accounts and checking logins, with a login rate limit kept in the database.

Logins (good and bad), tokens issued and revoked, and accounts created leave audit rows.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.orm.attributes import set_committed_value

from bot.staff import audit
from bot.staff.models import ROLES, LoginAttempt, StaffToken, StaffUser
from bot.staff.passwords import (
    hash_password_off_loop,
    needs_rehash,
    verify_password_off_loop,
)

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,25}$")
OFFICE_KEY = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")


@dataclass(frozen=True)
class Staff:
    """The signed-in staff member as routes see it (no password hash travels further)."""

    id: int
    username: str
    role: str
    display_name: str = ""
    # The office whose region's cases an agent works (bot/business/offices.py); None: all.
    office: str | None = None

    @property
    def actor(self) -> str:
        return audit.staff_actor(self.username)


class AccountError(ValueError):
    """A username, role or password that cannot be used."""


class TooManyAttempts(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__("too many login attempts")
        self.retry_after = retry_after


async def add_staff(
    session: AsyncSession,
    *,
    username: str,
    password: str,
    role: str,
    now: datetime,
    actor: str = "system",
    office: str | None = None,
) -> StaffUser:
    if not USERNAME.match(username):
        raise AccountError("username: 2–26 lower-case letters, digits, '.', '_' or '-'")
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if office is not None and not OFFICE_KEY.match(office):
        raise AccountError("office: the key of an office in the directory (a-z 0-9 . _ -)")
    exists = await session.execute(select(StaffUser.id).where(StaffUser.username == username))
    if exists.first() is not None:
        raise AccountError(f"staff member {username!r} already exists")
    user = StaffUser(
        username=username,
        display_name=username,
        password_hash=await hash_password_off_loop(password),
        role=role,
        office=office,
        active=True,
        created_at=now,
    )
    session.add(user)
    await session.flush()
    audit.record(
        session,
        actor=actor,
        action="account_created",
        target=audit.staff_actor(username),
        detail={"role": role, **({"office": office} if office else {})},
        now=now,
    )
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


async def _serialise_logins(session: AsyncSession, username: str, ip: str) -> None:
    """Queue concurrent logins for one username and one address on PostgreSQL (transaction
    advisory locks, always in this order); SQLite's BEGIN IMMEDIATE already serialises them."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for key in (f"staff-login-user:{username}", f"staff-login-ip:{ip}"):
        await session.execute(select(func.pg_advisory_xact_lock(func.hashtext(key))))


async def check_login(
    sessions: async_sessionmaker[AsyncSession],
    *,
    username: str,
    password: str,
    ip: str,
    now: datetime,
    max_failures: int,
    window: timedelta,
    kind: str,
    ttl: timedelta,
) -> tuple[Staff, str] | None:
    """The staff member and a new token of ``kind`` for good credentials, None for bad ones;
    raises when rate-limited.

    Limits count failures per username and (more loosely) per client address in a sliding
    window, so neither one account nor one address can be guessed at speed. Each try is
    counted as a failure before its password is checked (under a lock, so a parallel burst
    gets no more checks than the limit), and Argon2 runs in its own threads between two short
    transactions: no lock or transaction is held while it works.
    """
    since = now - window
    async with sessions() as session, session.begin():
        await _serialise_logins(session, username, ip)
        if (
            await _failures(session, LoginAttempt.username, username, since) >= max_failures
            or await _failures(session, LoginAttempt.ip, ip, since) >= max_failures * 4
        ):
            raise TooManyAttempts(int(window.total_seconds()))
        user = (
            await session.execute(select(StaffUser).where(StaffUser.username == username))
        ).scalar_one_or_none()
        stored = user.password_hash if user is not None and user.active else None
        attempt = LoginAttempt(username=username[:64], ip=ip[:64], succeeded=False, at=now)
        session.add(attempt)
        await session.flush()
        attempt_id = attempt.id
    ok = await verify_password_off_loop(stored, password)
    rehashed = await hash_password_off_loop(password) if ok and needs_rehash(str(stored)) else None
    async with sessions() as session, session.begin():
        user = (
            await session.execute(
                select(StaffUser).where(StaffUser.username == username).with_for_update()
            )
        ).scalar_one_or_none()
        # The account may have been deactivated or its password changed meanwhile.
        ok = ok and user is not None and user.active and user.password_hash == stored
        if not ok or user is None:
            audit.record(
                session,
                actor=audit.ANONYMOUS,
                action="login_failed",
                target=audit.staff_actor(username),
                ip=ip,
                detail={"username": username[:64]},
                now=now,
            )
            return None
        await session.execute(
            update(LoginAttempt).where(LoginAttempt.id == attempt_id).values(succeeded=True)
        )
        audit.record(
            session,
            actor=audit.staff_actor(user.username),
            action="login",
            target=audit.staff_actor(user.username),
            ip=ip,
            now=now,
        )
        if rehashed is not None:
            user.password_hash = rehashed
        user.last_login_at = now
        staff = Staff(user.id, user.username, user.role, user.display_name, user.office)
        token, _ = await issue_token(session, staff, kind=kind, ttl=ttl, now=now)
    return staff, token


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def token_id_for(session: AsyncSession, token: str) -> int | None:
    """The stored row of a token the caller holds (to mark or keep "this session")."""
    stmt = select(StaffToken.id).where(StaffToken.token_hash == _digest(token))
    return (await session.execute(stmt)).scalar_one_or_none()


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
    audit.record(
        session,
        actor=staff.actor,
        action="token_issued",
        target=staff.actor,
        detail={"kind": kind, "token_id": row.id},
        now=now,
    )
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
    if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
        await _touch(session, row.id, now)
        # Shown as used, without a second (ORM) write from a session that may be read-only.
        set_committed_value(row, "last_used_at", now)
    return Staff(user.id, user.username, user.role, user.display_name, user.office), row


# "Last used" is refreshed at most this often, so reads do not each cost a write.
TOUCH_EVERY = timedelta(minutes=1)


async def _touch(session: AsyncSession, token_id: int, now: datetime) -> None:
    """Record a token's use; a read-only session writes it through a short transaction of its own."""
    stmt = update(StaffToken).where(StaffToken.id == token_id).values(last_used_at=now)
    writer = audit.writer_for(session)
    if writer is None:
        await session.execute(stmt)
        return
    async with AsyncSession(writer) as own, own.begin():
        await own.execute(stmt)


async def revoke(session: AsyncSession, token: str, *, now: datetime | None = None) -> None:
    """Sign a token out (logout); the audit row names its owner."""
    found = (
        await session.execute(
            select(StaffToken.id, StaffUser.username)
            .join(StaffUser, StaffUser.id == StaffToken.user_id)
            .where(StaffToken.token_hash == _digest(token), StaffToken.revoked.is_(False))
        )
    ).first()
    if found is None:
        return
    await session.execute(update(StaffToken).where(StaffToken.id == found.id).values(revoked=True))
    who = audit.staff_actor(found.username)
    audit.record(
        session,
        actor=who,
        action="token_revoked",
        target=who,
        detail={"token_ids": [found.id], "why": "logout"},
        now=now,
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
