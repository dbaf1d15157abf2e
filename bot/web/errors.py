"""JSON errors for every bad request: a code a client can branch on and a readable message."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def unstorable(exc: DBAPIError) -> bool:
    """The database refused the request's own data (PostgreSQL's "data exception" class, e.g. a
    NUL character in text): the client's input, not the server's failure."""
    sqlstate = str(getattr(exc.orig, "sqlstate", "") or "")
    return isinstance(exc, DataError) or sqlstate.startswith("22")


def unreachable(exc: BaseException) -> bool:
    """The database went away (a restart, a failover, a dropped connection): retryable.

    A refused or reset connection reaches here as the socket's own error (the driver raises
    it while connecting), the rest as the driver's error with the server's SQLSTATE."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        exc = exc.orig or exc
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    sqlstate = str(getattr(exc, "sqlstate", "") or "")
    # 08: connection exception; 57P01–57P03: admin shutdown, crash shutdown, cannot connect now.
    return sqlstate.startswith("08") or sqlstate in {"57P01", "57P02", "57P03"}


UNSTORABLE = ApiError(
    422, "unstorable_value", "The request holds a value that cannot be stored (e.g. NUL)."
)


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": code, "message": message, **extra}


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, **exc.extra), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        if any(e["type"] == "json_invalid" for e in errors):
            return JSONResponse(
                error_body("invalid_json", "The body is not valid JSON."), status_code=400
            )
        return JSONResponse(
            error_body("invalid_request", "The request does not match the schema.", detail=errors),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            exc.status_code, "http_error"
        )
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        if unstorable(exc):
            return await _api_error(request, UNSTORABLE)
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if unreachable(exc):
            # Nothing of the request was kept: the client sends it again (same message id).
            return JSONResponse(
                error_body("temporarily_unavailable", "Try again in a moment."),
                status_code=503,
                headers={"Retry-After": "1"},
            )
        return JSONResponse(
            error_body("internal_error", "Something went wrong on our side."), status_code=500
        )
