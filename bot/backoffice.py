"""Hand-off to an external back office: each submitted case and status change, signed, retried.

``Handoff.enqueue`` runs inside the transaction that changed the case and writes an outbox
row holding only the case number and event id; ``Delivery`` builds the JSON at send time (so
no personal data sits in the outbox), signs it with HMAC-SHA256 and POSTs it. Anything but a 2xx (or 409,
"already have it") is retried by the outbox with exponential backoff. Schema: docs/backoffice.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bot import outbox
from bot.db.models import Case, CaseEvent, OutboxMessage
from bot.outbox import GiveUp, RetryLater, parse_retry_after

if TYPE_CHECKING:
    from bot.runtime import BackofficeRuntime
    from bot.settings import Settings

log = logging.getLogger(__name__)
TOPIC = "backoffice"
# A forwarded case's package to the receiving office's own hand-off URL (bot/transfer.py).
OFFICE_TOPIC = "office"
SCHEMA = "weiquan.case-event/1"
SIGNATURE_HEADER = "X-Weiquan-Signature"
# A receiver refuses deliveries whose signed timestamp is further than this from its clock.
DEFAULT_MAX_AGE_SECONDS = 300.0
EVENT_NAMES = {
    "submitted": "case.submitted",
    "transition": "case.status_changed",
    "extended": "case.deadline_extended",
    "paused": "case.deadline_paused",
    "reporter_notified": "case.reporter_notified",
    "forwarded": "case.forwarded",
    "merged": "case.merged",
}


@dataclass(frozen=True)
class Handoff:
    """Whether this app hands cases to a back office: built from its settings with the app
    and given to what files or changes a case (the pipeline, the staff workflow)."""

    enabled: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Handoff:
        return cls(enabled=bool(settings.backoffice.url))

    def enqueue(self, session: Session, case: Case, event: CaseEvent, *, now: datetime) -> None:
        """Queue the hand-off of ``event`` in the caller's transaction (no-op when off).

        Async callers: ``await session.run_sync(handoff.enqueue, case, event, now=now)``."""
        if not self.enabled:
            return
        if event.id is None:
            session.flush()
        outbox.enqueue(
            session,
            topic=TOPIC,
            key=outbox.Key(case.case_no, f"event.{event.id}"),
            payload={"case_no": case.case_no, "event_id": event.id},
            due=now,
        )


def idempotency_key(case_no: str, event_id: int) -> str:
    return f"{case_no}:{event_id}"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    secret: str,
    header: str,
    body: bytes,
    *,
    max_age: float = DEFAULT_MAX_AGE_SECONDS,
    now: float | None = None,
) -> bool:
    """What a receiver does (and what the tests' receiver does) to check a delivery: the
    signature, and a timestamp within ``max_age`` seconds of ``now`` so a captured delivery
    cannot be replayed later."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    stamp = parts.get("t", "")
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
        return False
    timestamp = int(stamp)
    current = time.time() if now is None else now
    if abs(current - timestamp) > max_age:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), header)


def case_body(case: Case, event: CaseEvent) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "idempotency_key": idempotency_key(case.case_no, event.id),
        "event": EVENT_NAMES.get(event.kind, f"case.{event.kind}"),
        "sequence": event.id,
        "occurred_at": event.at.isoformat(),
        "actor": event.actor,
        "detail": event.detail,
        "case": {
            "case_no": case.case_no,
            "kind": case.kind,
            "status": case.status,
            "channel": case.channel,
            "locale": case.locale,
            "submitted_at": case.submitted_at.isoformat(),
            "next_deadline": case.decision_due.isoformat() if case.decision_due else None,
            "platform": case.platform,
            "merchant": case.merchant,
            "fields": case.fields,
            "personal": case.personal,
            "linked_case_no": case.linked_case_no,
        },
    }


class Delivery:
    """Outbox handler for ``backoffice`` rows."""

    def __init__(self, runtime: BackofficeRuntime) -> None:
        self.runtime = runtime

    async def __call__(self, row: outbox.Delivery) -> None:
        settings = self.runtime.settings.backoffice
        if not settings.url:
            raise RetryLater("WEIQUAN_BACKOFFICE_URL is not set", after=300)
        async with self.runtime.sessions() as session:
            found = await case_event(session, row.payload)
        await post_signed(
            self.runtime,
            settings.url,
            case_body(*found),
            idempotency_key(found[0].case_no, found[1].id),
            secret=settings.secret or "",
        )


async def post_signed(
    runtime: BackofficeRuntime, url: str, payload: dict[str, Any], key: str, *, secret: str
) -> None:
    """POST ``payload`` signed with ``secret``; anything but a 2xx or 409 ("already have
    it") raises ``RetryLater`` for the outbox, honouring the receiver's Retry-After."""
    settings = runtime.settings.backoffice
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")
    timestamp = int(runtime.now().timestamp())
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Idempotency-Key": key,
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }
    try:
        response = await runtime.http.post(
            url, content=body, headers=headers, timeout=settings.timeout
        )
    except httpx.HTTPError as exc:
        raise RetryLater(f"{type(exc).__name__}: {exc}") from None
    if response.is_success or response.status_code == 409:
        return
    raise RetryLater(
        f"HTTP {response.status_code}: {response.text[:200]}",
        after=parse_retry_after(response.headers.get("retry-after"), now=runtime.now()),
    )


async def deliveries(
    session: AsyncSession, *, status: str | None = None, limit: int = 100
) -> list[OutboxMessage]:
    """Hand-off rows for the console and API, failures first: nothing fails silently."""
    stmt = select(OutboxMessage).where(OutboxMessage.topic.in_((TOPIC, OFFICE_TOPIC)))
    if status:
        stmt = stmt.where(OutboxMessage.status == status)
    stmt = stmt.order_by(OutboxMessage.status != "failed", OutboxMessage.id.desc()).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def case_event(session: AsyncSession, payload: dict[str, Any]) -> tuple[Case, CaseEvent]:
    """The case and event an outbox row was queued for; gives up when they are gone."""
    found = (
        await session.execute(
            select(Case, CaseEvent)
            .join(CaseEvent, CaseEvent.case_id == Case.id)
            .where(Case.case_no == payload["case_no"], CaseEvent.id == payload["event_id"])
        )
    ).first()
    if found is None:
        raise GiveUp(f"case event {payload} no longer exists")
    return found[0], found[1]
