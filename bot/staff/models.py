"""Tables of the back office: staff, their tokens, login attempts, the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, UTCDateTime, utcnow
from bot.db.models import BigId

ROLES = ("agent", "supervisor", "admin")


class StaffUser(Base):
    """A person who works the queue and cases; passwords are argon2 hashes only."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(32), unique=True)
    display_name: Mapped[str] = mapped_column(String(64), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    # The office whose region's cases this person works (bot/rules/offices.yml); None for
    # supervisors and admins who work across offices, and for agents of a single-office setup.
    office: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StaffToken(Base):
    """A bearer token or console session; only its SHA-256 is stored, so a leak grants nothing."""

    __tablename__ = "staff_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # api | console
    csrf: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    # Refreshed at most once a minute, so a person can tell a stolen session from their own.
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginAttempt(Base):
    """Login tries, shared by every instance so the rate limit holds behind a load balancer."""

    __tablename__ = "staff_login_attempts"
    __table_args__ = (
        Index("ix_staff_login_user_at", "username", "at"),
        Index("ix_staff_login_ip_at", "ip", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str] = mapped_column(String(64))
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEntry(Base):
    """Who saw or did what to protected data or to an account, when, from where and why."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_target", "target", "at"),
        Index("ix_audit_actor", "actor", "id"),
        Index("ix_audit_case_no", "case_no", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    case_no: Mapped[str | None] = mapped_column(String(32))
    conversation_id: Mapped[int | None] = mapped_column(BigId)
    ip: Mapped[str] = mapped_column(String(64), default="", server_default="")
