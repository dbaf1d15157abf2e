"""``POST /api/v1/auth/token`` and staff accounts (admins only)."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from bot.api.deps import Admin, AnyStaff, Runtime, Session, client_ip
from bot.staff.accounts import (
    AccountError,
    TooManyAttempts,
    add_staff,
    check_login,
    list_staff,
)
from bot.staff.passwords import WeakPassword
from bot.web.errors import ApiError

router = APIRouter(prefix="/api/v1", tags=["staff auth"])


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - a scheme name, not a secret
    expires_in: int


class StaffOut(BaseModel):
    username: str
    role: str
    display_name: str = ""
    office: str | None = None


class StaffCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{1,25}$")
    password: str = Field(min_length=10, max_length=256)
    role: Literal["agent", "supervisor", "admin"]
    office: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9._-]{0,31}$",
        description="An agent's office (its key in the office directory): they see its cases",
    )


@router.post("/auth/token", response_model=TokenOut)
async def token(body: TokenRequest, request: Request, runtime: Runtime) -> TokenOut:
    """Exchange a username and password for a bearer token (rate-limited per user and address).

    No request-wide transaction: the login takes short ones of its own around Argon2."""
    settings = runtime.settings.backoffice
    ttl = timedelta(minutes=settings.token_ttl_minutes)
    try:
        found = await check_login(
            runtime.sessions,
            username=body.username,
            password=body.password,
            ip=client_ip(request),
            now=runtime.now(),
            max_failures=settings.login_max_failures,
            window=timedelta(minutes=settings.login_window_minutes),
            kind="api",
            ttl=ttl,
        )
    except TooManyAttempts as exc:
        raise ApiError(
            429,
            "too_many_attempts",
            "Too many failed logins; try again later.",
            retry_after=exc.retry_after,
        ) from None
    if found is None:
        raise ApiError(401, "invalid_credentials", "Wrong username or password.")
    return TokenOut(access_token=found[1], expires_in=int(ttl.total_seconds()))


@router.get("/me", response_model=StaffOut)
async def me(staff: AnyStaff) -> StaffOut:
    return StaffOut(
        username=staff.username,
        role=staff.role,
        display_name=staff.display_name,
        office=staff.office,
    )


@router.get("/staff", response_model=list[StaffOut])
async def staff_list(admin: Admin, session: Session) -> list[StaffOut]:
    return [
        StaffOut(username=u.username, role=u.role, display_name=u.display_name, office=u.office)
        for u in await list_staff(session)
    ]


@router.post("/staff", response_model=StaffOut, status_code=201)
async def staff_create(
    body: StaffCreate, admin: Admin, runtime: Runtime, session: Session, request: Request
) -> StaffOut:
    if body.office is not None and not known_office(request, body.office):
        raise ApiError(422, "invalid_account", f"No office {body.office!r} in the directory.")
    try:
        user = await add_staff(
            session,
            username=body.username,
            password=body.password,
            role=body.role,
            now=runtime.now(),
            actor=admin.actor,
            office=body.office,
        )
    except (AccountError, WeakPassword) as exc:
        raise ApiError(422, "invalid_account", str(exc)) from None
    return StaffOut(
        username=user.username, role=user.role, display_name=user.display_name, office=user.office
    )


def known_office(request: Request, key: str) -> bool:
    sellers = getattr(request.app.state, "sellers", None)
    return sellers is not None and sellers.directory.get(key) is not None
