"""Typed dependencies of the staff API: the back-office runtime, a session, the signed-in staff."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from bot.runtime import BackofficeRuntime
from bot.staff.accounts import Staff, resolve_token
from bot.web.errors import ApiError


def get_runtime(request: Request) -> BackofficeRuntime:
    runtime: BackofficeRuntime = request.app.state.backoffice
    return runtime


Runtime = Annotated[BackofficeRuntime, Depends(get_runtime)]


async def get_session(runtime: Runtime) -> AsyncIterator[AsyncSession]:
    """One transaction per request: an audit row commits with the view it records."""
    async with runtime.sessions() as session, session.begin():
        yield session


Session = Annotated[AsyncSession, Depends(get_session)]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def bearer_staff(request: Request, runtime: Runtime, session: Session) -> Staff:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "not_authenticated", "Send 'Authorization: Bearer <token>'.")
    found = await resolve_token(session, token.strip(), kind="api", now=runtime.now())
    if found is None:
        raise ApiError(401, "invalid_token", "The token is unknown, expired or revoked.")
    return found[0]


def require(*roles: str) -> Callable[..., Awaitable[Staff]]:
    """A dependency that lets only ``roles`` through: 401 without a token, 403 for others."""

    async def check(staff: Annotated[Staff, Depends(bearer_staff)]) -> Staff:
        if staff.role not in roles:
            raise ApiError(403, "forbidden", f"This needs the role {' or '.join(roles)}.")
        return staff

    return check


CaseStaff = Annotated[Staff, Depends(require("agent", "supervisor"))]
Supervisor = Annotated[Staff, Depends(require("supervisor"))]
Admin = Annotated[Staff, Depends(require("admin"))]
AnyStaff = Annotated[Staff, Depends(bearer_staff)]
