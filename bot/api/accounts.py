"""Account lifecycle over the staff API: deactivate, reactivate, change or reset a password,
list and revoke tokens. Admins manage everyone; others only their own password and tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from bot.api.deps import Admin, AnyStaff, RowId, Runtime, Session, client_ip
from bot.staff import lifecycle
from bot.staff.accounts import Staff, token_id_for
from bot.staff.passwords import WeakPassword
from bot.web.errors import ApiError

router = APIRouter(prefix="/api/v1", tags=["staff accounts"])
Username = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9._-]{1,25}$", description="login name")]
# Ids are 64-bit in the database; a larger number is simply not one of them.
TokenId = RowId


class AccountOut(BaseModel):
    username: str
    role: str
    display_name: str
    active: bool
    created_at: datetime
    last_login_at: datetime | None


class TokenInfo(BaseModel):
    id: int
    kind: str
    issued_at: datetime
    last_used_at: datetime | None
    expires_at: datetime
    current: bool


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str | None = Field(
        default=None, max_length=256, description="Leave out to have one generated"
    )


class ResetOut(BaseModel):
    username: str
    password: str | None = Field(description="The generated password, shown this once")
    tokens_revoked: int


class Revoked(BaseModel):
    revoked: list[int]


def _fail(exc: Exception) -> ApiError:
    if isinstance(exc, lifecycle.NotFound):
        return ApiError(404, "not_found", str(exc))
    if isinstance(exc, lifecycle.NotAllowed):
        return ApiError(403, "forbidden", str(exc))
    if isinstance(exc, lifecycle.WrongPassword):
        return ApiError(403, "wrong_password", str(exc))
    return ApiError(422, "weak_password", str(exc))


def _bearer(request: Request) -> str:
    return request.headers.get("authorization", "").partition(" ")[2].strip()


def _account(user: Any) -> AccountOut:
    return AccountOut(
        username=user.username,
        role=user.role,
        display_name=user.display_name,
        active=user.active,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
    )


@router.get("/staff/{username}", response_model=AccountOut)
async def account(username: Username, staff: AnyStaff, session: Session) -> AccountOut:
    """One account (admins: anyone; others: themselves)."""
    try:
        lifecycle.ensure_may_manage(staff, username)
        return _account(await lifecycle.find_user(session, username))
    except lifecycle.AccountError as exc:
        raise _fail(exc) from None


async def _set_active(
    staff: Staff, username: str, active: bool, request: Request, runtime: Runtime, session: Session
) -> AccountOut:
    try:
        user = await lifecycle.set_active(
            session,
            actor=staff.actor,
            username=username,
            active=active,
            now=runtime.now(),
            ip=client_ip(request),
        )
    except lifecycle.AccountError as exc:
        raise _fail(exc) from None
    return _account(user)


@router.post("/staff/{username}/deactivate", response_model=AccountOut)
async def deactivate(
    username: Username, admin: Admin, request: Request, runtime: Runtime, session: Session
) -> AccountOut:
    """Every token and console session of the account stops working with this answer."""
    return await _set_active(admin, username, False, request, runtime, session)


@router.post("/staff/{username}/reactivate", response_model=AccountOut)
async def reactivate(
    username: Username, admin: Admin, request: Request, runtime: Runtime, session: Session
) -> AccountOut:
    return await _set_active(admin, username, True, request, runtime, session)


@router.post("/staff/{username}/password", response_model=ResetOut)
async def reset_password(
    username: Username,
    body: PasswordReset,
    admin: Admin,
    request: Request,
    runtime: Runtime,
    session: Session,
) -> ResetOut:
    """An admin sets someone's password, or has one generated (returned once); their tokens die."""
    try:
        user = await lifecycle.find_user(session, username)
        before = len(await lifecycle.live_tokens(session, user, now=runtime.now()))
        password = await lifecycle.reset_password(
            session,
            actor=admin.actor,
            username=username,
            now=runtime.now(),
            new=body.password,
            ip=client_ip(request),
        )
    except (lifecycle.AccountError, WeakPassword) as exc:
        raise _fail(exc) from None
    return ResetOut(
        username=username,
        password=None if body.password else password,
        tokens_revoked=before,
    )


@router.post("/me/password", status_code=204)
async def change_password(
    body: PasswordChange, staff: AnyStaff, request: Request, runtime: Runtime, session: Session
) -> Response:
    """Change one's own password; the token used for this call stays, every other one dies."""
    try:
        await lifecycle.change_password(
            session,
            staff=staff,
            current=body.current_password,
            new=body.new_password,
            now=runtime.now(),
            keep=await token_id_for(session, _bearer(request)),
            ip=client_ip(request),
        )
    except (lifecycle.AccountError, WeakPassword) as exc:
        raise _fail(exc) from None
    return Response(status_code=204)


@router.get("/staff/{username}/tokens", response_model=list[TokenInfo])
async def tokens(
    username: Username, staff: AnyStaff, request: Request, runtime: Runtime, session: Session
) -> list[dict[str, object]]:
    """Live tokens and console sessions: when issued and last used, never the secret."""
    try:
        lifecycle.ensure_may_manage(staff, username)
        user = await lifecycle.find_user(session, username)
    except lifecycle.AccountError as exc:
        raise _fail(exc) from None
    current = await token_id_for(session, _bearer(request))
    return [
        lifecycle.token_dict(t, current=current)
        for t in await lifecycle.live_tokens(session, user, now=runtime.now())
    ]


async def _revoke(
    staff: Staff,
    username: str,
    token_id: int | None,
    request: Request,
    runtime: Runtime,
    session: Session,
) -> Revoked:
    try:
        lifecycle.ensure_may_manage(staff, username)
        ids = await lifecycle.revoke_tokens(
            session,
            actor=staff.actor,
            username=username,
            now=runtime.now(),
            token_id=token_id,
            ip=client_ip(request),
        )
    except lifecycle.AccountError as exc:
        raise _fail(exc) from None
    return Revoked(revoked=ids)


@router.delete("/staff/{username}/tokens/{token_id}", response_model=Revoked)
async def revoke_one(
    username: Username,
    token_id: TokenId,
    staff: AnyStaff,
    request: Request,
    runtime: Runtime,
    session: Session,
) -> Revoked:
    return await _revoke(staff, username, token_id, request, runtime, session)


@router.delete("/staff/{username}/tokens", response_model=Revoked)
async def revoke_all(
    username: Username, staff: AnyStaff, request: Request, runtime: Runtime, session: Session
) -> Revoked:
    """Sign a person out everywhere (including the caller, when it is their own account)."""
    return await _revoke(staff, username, None, request, runtime, session)
