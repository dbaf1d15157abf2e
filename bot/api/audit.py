"""``GET /api/v1/audit``: the audit log for supervisors and admins, newest first, by person or case."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from bot.api.deps import MAX_ROW_ID, Session, require
from bot.staff import audit
from bot.staff.accounts import Staff

router = APIRouter(prefix="/api/v1", tags=["audit"])
Auditor = Annotated[Staff, Depends(require("supervisor", "admin"))]


class AuditPage(BaseModel):
    items: list[dict[str, Any]]
    next_before: int | None


@router.get("/audit", response_model=AuditPage)
async def audit_log(
    staff: Auditor,
    session: Session,
    actor: Annotated[
        str | None, Query(max_length=64, description="a username or actor; rows by or about them")
    ] = None,
    case_no: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_ROW_ID, description="the last id already shown")
    ] = None,
) -> AuditPage:
    rows = await audit.search(session, actor=actor, case_no=case_no, before=before, limit=limit)
    return AuditPage(
        items=[audit.as_dict(r) for r in rows],
        next_before=rows[-1].id if len(rows) == limit else None,
    )
