"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    state = request.app.state
    body: dict[str, Any] = {"nlu": state.understanding.status()}
    try:
        async with state.db_engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        body["database"] = "ok"
    except Exception as exc:  # any failure means not ready; say which
        body["database"] = f"error: {type(exc).__name__}"
        body["status"] = "unavailable"
        return JSONResponse(body, status_code=503)
    body["status"] = "ready"
    return JSONResponse(body)
