"""Console sign-in: a signed, HttpOnly, SameSite=Strict cookie naming a stored session; CSRF tokens.

The cookie carries a random session token (stored hashed, revocable) signed with itsdangerous,
so a forged or truncated cookie is refused before any database lookup. Every form carries the
session's CSRF token; the login form, made before any session, uses a double-submit cookie.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response
from itsdangerous import BadSignature, URLSafeSerializer

from bot.api.deps import readers
from bot.runtime import BackofficeRuntime
from bot.staff.accounts import Staff, resolve_token

COOKIE = "weiquan_console"
LOGIN_CSRF_COOKIE = "weiquan_login_csrf"
PATH = "/console"


class NeedLogin(Exception):
    """No valid session: the console answers with a redirect to the login page."""


class Forbidden(Exception):
    """Signed in, but this page belongs to another role (or the CSRF token is wrong)."""


@dataclass(frozen=True)
class ConsoleUser:
    staff: Staff
    csrf: str
    token: str


class NotFound(Exception):
    """What the signed-in user asked for is not there for them: the page says so (404)."""

    def __init__(self, user: ConsoleUser, message: str) -> None:
        super().__init__(message)
        self.user = user


def serializer(runtime: BackofficeRuntime) -> URLSafeSerializer:
    return URLSafeSerializer(runtime.settings.signing_secret, salt="weiquan-console")


def set_session(response: Response, runtime: BackofficeRuntime, token: str) -> None:
    response.set_cookie(
        COOKIE,
        serializer(runtime).dumps(token),
        max_age=runtime.settings.backoffice.token_ttl_minutes * 60,
        path=PATH,
        secure=runtime.settings.backoffice.cookie_secure,
        httponly=True,
        samesite="strict",
    )


def clear_session(response: Response, runtime: BackofficeRuntime) -> None:
    response.delete_cookie(
        COOKIE,
        path=PATH,
        secure=runtime.settings.backoffice.cookie_secure,
        httponly=True,
        samesite="strict",
    )


def login_csrf_value(request: Request) -> str:
    return request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)


def set_login_csrf(response: Response, runtime: BackofficeRuntime, value: str) -> None:
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        value,
        path=PATH,
        secure=runtime.settings.backoffice.cookie_secure,
        httponly=True,
        samesite="strict",
    )


def check_login_csrf(request: Request, submitted: str) -> None:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, submitted):
        raise Forbidden("login form expired; reload the page")


def session_token(request: Request, runtime: BackofficeRuntime) -> str | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        return str(serializer(runtime).loads(raw))
    except BadSignature:
        return None


async def current(request: Request, runtime: BackofficeRuntime, *roles: str) -> ConsoleUser:
    token = session_token(request, runtime)
    if token is None:
        raise NeedLogin
    # A read-only snapshot: recording when the session was last used (at most once a minute)
    # takes a short write of its own, so a page view holds no write lock.
    async with readers(request, runtime)() as session, session.begin():
        found = await resolve_token(session, token, kind="console", now=runtime.now())
    if found is None:
        raise NeedLogin
    staff, row = found
    if roles and staff.role not in roles:
        raise Forbidden("此页面不属于您的角色")
    return ConsoleUser(staff=staff, csrf=row.csrf, token=token)


def check_csrf(user: ConsoleUser, submitted: str | None) -> None:
    if not submitted or not hmac.compare_digest(user.csrf, submitted):
        raise Forbidden("表单已过期，请刷新页面后重试")
