"""Evidence transfer (证据移转): a forwarded case's package for the receiving office.

When staff forward a case (``bot.workflow.forward``) to an office with its own hand-off URL in
the directory, an outbox row (topic ``office``) holds the case number, the event and the
office. ``OfficeDelivery`` builds the package at send time: the back-office body of the
``case.forwarded`` event, the receiving office, and a manifest of the case's evidence files,
each with its SHA-256 and a signed download link. A link names one case, one file, the office
and an expiry, and is an HMAC over all four with the evidence link key
(``Settings.evidence_link_key``): it opens that file of that case until it expires, and
nothing else (``check``; served by ``bot/api/transfer.py``). Each attempt signs fresh links,
so a retried delivery never carries stale ones. Schema: docs/backoffice.md.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import outbox
from bot.backoffice import OFFICE_TOPIC, case_body, case_event, idempotency_key, post_signed
from bot.business.offices import Directory, Office
from bot.db.models import Case, CaseEvent, Evidence
from bot.outbox import GiveUp

if TYPE_CHECKING:
    from bot.runtime import BackofficeRuntime

SCHEMA = "weiquan.case-forwarded/1"
Verdict = Literal["ok", "forbidden", "expired"]


@dataclass(frozen=True)
class Link:
    """What a signed evidence link names."""

    case_no: str
    sha256: str
    office: str
    expires: int  # Unix time

    def signature(self, key: bytes) -> str:
        message = f"{self.case_no}\n{self.sha256}\n{self.office}\n{self.expires}".encode()
        return hmac.new(key, message, hashlib.sha256).hexdigest()

    def url(self, base: str, key: bytes) -> str:
        query = urlencode(
            {"office": self.office, "expires": self.expires, "sig": self.signature(key)}
        )
        return f"{base}/api/v1/transfers/{self.case_no}/evidence/{self.sha256}?{query}"


def check(link: Link, signature: str, key: bytes, *, now: datetime) -> Verdict:
    """A link's signature first (a tampered or another case's link is ``forbidden``, whatever
    its expiry says), then its expiry."""
    if not hmac.compare_digest(link.signature(key), signature):
        return "forbidden"
    if now.timestamp() > link.expires:
        return "expired"
    return "ok"


def enqueue(
    session: Session, case: Case, event: CaseEvent, office: Office, *, now: datetime
) -> None:
    """Queue the package for ``office`` in the forwarding transaction (none without a URL)."""
    if not office.handoff_url:
        return
    outbox.enqueue(
        session,
        topic=OFFICE_TOPIC,
        key=outbox.Key(case.case_no, f"forward.{event.id}"),
        payload={"case_no": case.case_no, "event_id": event.id, "office": office.key},
        due=now,
    )


def manifest(
    evidence: list[Evidence], case_no: str, office: str, *, base: str, key: bytes, expires: int
) -> list[dict[str, Any]]:
    return [
        {
            "sha256": item.sha256,
            "size": item.size,
            "content_type": item.content_type,
            "filename": item.filename,
            "url": Link(case_no, item.sha256, office, expires).url(base, key),
        }
        for item in evidence
    ]


def package(
    case: Case,
    event: CaseEvent,
    evidence: list[Evidence],
    office: Office,
    *,
    base: str,
    key: bytes,
    now: datetime,
    hours: float,
) -> dict[str, Any]:
    expires_at = now + timedelta(hours=hours)
    expires = int(expires_at.timestamp())
    return {
        **case_body(case, event),
        "package": SCHEMA,
        "office": {"key": office.key, "name": office.name},
        "links_expire_at": expires_at.isoformat(),
        "evidence": manifest(
            evidence, case.case_no, office.key, base=base, key=key, expires=expires
        ),
    }


class OfficeDelivery:
    """Outbox handler for ``office`` rows: the package to the office's hand-off URL, signed
    as back-office deliveries are but with that office's own secret, and retried the same
    way."""

    def __init__(self, runtime: BackofficeRuntime, directory: Directory) -> None:
        self.runtime = runtime
        self.directory = directory

    async def __call__(self, row: outbox.Delivery) -> None:
        office = self.directory.get(row.payload["office"])
        if office is None or not office.handoff_url:
            raise GiveUp(f"office {row.payload['office']!r} has no hand-off URL in the directory")
        async with self.runtime.sessions() as session:
            case, event = await case_event(session, row.payload)
            evidence = list(
                (
                    await session.execute(
                        select(Evidence).where(Evidence.case_id == case.id).order_by(Evidence.id)
                    )
                ).scalars()
            )
        settings = self.runtime.settings
        body = package(
            case,
            event,
            evidence,
            office,
            base=settings.public_base_url,
            key=settings.evidence_link_key,
            now=self.runtime.now(),
            hours=settings.backoffice.evidence_link_hours,
        )
        await post_signed(
            self.runtime,
            office.handoff_url,
            body,
            idempotency_key(case.case_no, event.id),
            secret=settings.office_handoff_secret(office.key),
        )
