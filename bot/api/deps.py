"""Typed dependencies of the staff API: the back-office runtime, a session, the signed-in staff."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.engine import read_only
from bot.runtime import BackofficeRuntime
from bot.staff.accounts import Staff, resolve_token
from bot.web.errors import UNSTORABLE, ApiError, unstorable


def get_runtime(request: Request) -> BackofficeRuntime:
    runtime: BackofficeRuntime = request.app.state.backoffice
    return runtime


Runtime = Annotated[BackofficeRuntime, Depends(get_runtime)]


# Methods that only read: their session is a snapshot that never takes SQLite's write lock.
READS = frozenset({"GET", "HEAD"})


def readers(request: Request, runtime: BackofficeRuntime) -> async_sessionmaker[AsyncSession]:
    """Read-only sessions on the app's engine, built once per app."""
    found: async_sessionmaker[AsyncSession] | None = getattr(
        request.app.state, "staff_readers", None
    )
    if found is None:
        found = request.app.state.staff_readers = read_only(runtime.sessions)
    return found


def database_error(exc: DBAPIError) -> ApiError:
    """A failed write as the client sees it: a conflict to retry, never a 200 for a lost change."""
    sqlstate = str(getattr(exc.orig, "sqlstate", "") or "")
    if isinstance(exc, IntegrityError) or sqlstate in {"40001", "40P01"}:
        return ApiError(409, "conflict", "Someone else changed this at the same time; reload.")
    if unstorable(exc):
        return UNSTORABLE
    return ApiError(503, "database_busy", "The database did not accept the change; try again.")


async def get_session(request: Request, runtime: Runtime) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed before the response is sent (scope "function"),
    so an audit row commits with the view it records and a failed commit is an error, not a 200.
    Reads get a read-only snapshot."""
    sessions = readers(request, runtime) if request.method in READS else runtime.sessions
    async with sessions() as session:
        try:
            async with session.begin():
                yield session
        except DBAPIError as exc:
            raise database_error(exc) from None


Session = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_audit_session(runtime: Runtime) -> AsyncIterator[AsyncSession]:
    """A short write transaction for the audit rows of a read, committed before the response."""
    async with runtime.sessions() as session:
        try:
            async with session.begin():
                yield session
        except DBAPIError as exc:
            raise database_error(exc) from None


AuditSession = Annotated[AsyncSession, Depends(get_audit_session, scope="function")]


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


# Row ids in paths and queries: a number the databases can hold, so a huge one is a 422, not
# an overflow deep in a driver.
MAX_ROW_ID = 2**63 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
AfterId = Annotated[int, Query(ge=0, le=MAX_ROW_ID, description="the last id already seen")]

CaseStaff = Annotated[Staff, Depends(require("agent", "supervisor"))]
Supervisor = Annotated[Staff, Depends(require("supervisor"))]
Admin = Annotated[Staff, Depends(require("admin"))]
AnyStaff = Annotated[Staff, Depends(bearer_staff)]
