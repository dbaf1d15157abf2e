"""The receiving office fetches a forwarded case's evidence by its signed link (bot/transfer.py).

No staff sign-in: the link is the authority, for one file of one case until it expires. A
link whose signature does not match (tampered, or another case's or file's) is 403, an
expired one 410, both as JSON; each file served leaves an audit row naming the office.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from sqlalchemy import select

from bot import transfer
from bot.api.deps import Runtime, Session
from bot.cases import get_case
from bot.db.models import Evidence
from bot.staff.audit import log as log_audit
from bot.web.errors import ApiError

router = APIRouter(prefix="/api/v1", tags=["evidence transfer"])
FORBIDDEN = ApiError(403, "link_invalid", "This link does not open this file.")


@router.get("/transfers/{case_no}/evidence/{sha256}")
async def transferred_evidence(
    case_no: str,
    sha256: str,
    runtime: Runtime,
    session: Session,
    office: Annotated[str, Query(max_length=32)] = "",
    expires: Annotated[str, Query(max_length=12)] = "",
    sig: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    hex_name = len(sha256) == 64 and all(c in "0123456789abcdef" for c in sha256)
    if not (expires.isascii() and expires.isdigit() and len(case_no) <= 16 and hex_name):
        raise FORBIDDEN
    link = transfer.Link(case_no, sha256, office, int(expires))
    verdict = transfer.check(link, sig, runtime.settings.evidence_link_key, now=runtime.now())
    if verdict == "expired":
        raise ApiError(410, "link_expired", "This link has expired; ask the sending office.")
    if verdict != "ok":
        raise FORBIDDEN
    case = await get_case(session, case_no)
    item = None
    if case is not None:
        item = (
            (
                await session.execute(
                    select(Evidence).where(Evidence.case_id == case.id, Evidence.sha256 == sha256)
                )
            )
            .scalars()
            .first()
        )
    content = await runtime.evidence.load(sha256) if item is not None else None
    if case is None or item is None or content is None:
        raise ApiError(404, "evidence_not_found", "The file is no longer held.")
    await log_audit(
        session,
        actor=f"office:{office}",
        action="evidence_transfer",
        case_no=case.case_no,
        conversation_id=case.conversation_id,
        detail={"sha256": sha256, "filename": item.filename},
        now=runtime.now(),
    )
    return Response(
        content,
        media_type=item.content_type,
        headers={"X-Content-SHA256": sha256, "Cache-Control": "private, no-store"},
    )
