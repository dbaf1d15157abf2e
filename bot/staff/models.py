"""Tables of the back office: staff, their tokens, login attempts, the audit log, and the
assistance requests (协查) offices send each other."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.crypto import RowBoundText, bind_to_rows
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


class AssistRequest(Base):
    """An assistance request (协查): one office asks another about a business or a case, on
    a case, with a due date; a thread of messages until the asking side closes it."""

    __tablename__ = "assist_requests"
    __table_args__ = (Index("ix_assist_requests_to_status", "to_office", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    case_no: Mapped[str] = mapped_column(String(16))
    # None: asked by someone working across offices (a supervisor).
    from_office: Mapped[str | None] = mapped_column(String(32))
    to_office: Mapped[str] = mapped_column(String(32))
    # What is asked about: a business (name or credit code) or the case itself.
    subject: Mapped[str] = mapped_column(String(200))
    due: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | answered | closed
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_by: Mapped[str | None] = mapped_column(String(64))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    messages: Mapped[list[AssistMessage]] = relationship(
        back_populates="request", order_by="AssistMessage.id", lazy="raise"
    )


class AssistMessage(Base):
    """One message of a request's thread; its text may name people, so it is encrypted."""

    __tablename__ = "assist_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("assist_requests.id"), index=True)
    author: Mapped[str] = mapped_column(String(64))
    office: Mapped[str | None] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(
        RowBoundText("assist_messages.text", row_key="request_id"), default=""
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    request: Mapped[AssistRequest] = relationship(back_populates="messages")


bind_to_rows(AssistMessage)
