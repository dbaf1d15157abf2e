"""Two-way CCC risk feedback: the certificate numbers consumers' cases name, counted per
number for staff, and a monthly export of the reported listings for e-commerce platforms.

When a case is filed, each CCC certificate number its facts name (a pasted listing's check,
the consumer's own words, the listing link) is recorded with the listing's platform, link and
shop: ``certificate_reports``, one row per case and number, in the turn's transaction. Only
the listing is recorded, never who reported it: the export carries no consumer data.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot.db.base import Base, UTCDateTime
from bot.db.models import BigId, Case
from bot.deadlines import SHANGHAI
from dialogues.knowledge_port import CertStatus
from dialogues.listing import platform_of, url_of
from integrations.ccc.models import CccCertificate
from integrations.ccc.numbers import find_candidates, validate

# The case fields that can name a certificate or the listing, in the order a link is taken.
TEXT_FIELDS = (
    "target_location",
    "merchant_address",
    "facts",
    "problem",
    "seen",
    "product",
    "model_no",
)
MAX_TEXT = 4000
# A case naming more numbers than this is a pasted catalogue, not a report about each.
MAX_NUMBERS = 10
NOT_FOUND = "not_found"  # the status column for a number the registry does not hold


class CertificateReport(Base):
    """One certificate number named by one consumer case, with the listing it was seen on."""

    __tablename__ = "certificate_reports"
    __table_args__ = (
        UniqueConstraint("case_id", "cert_no", name="uq_certificate_reports"),
        Index("ix_certificate_reports_cert_no", "cert_no"),
        Index("ix_certificate_reports_reported_at", "reported_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    cert_no: Mapped[str] = mapped_column(String(16))
    platform: Mapped[str | None] = mapped_column(String(32))
    link: Mapped[str | None] = mapped_column(String(300))
    shop: Mapped[str | None] = mapped_column(String(200))
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime)


def numbers_in(fields: Mapping[str, Any], *, year: int) -> list[str]:
    """The well-formed 16-digit certificate numbers the case's text fields name, each once
    (an order number or a phone number does not pass the shape check of ``validate``)."""
    found: list[str] = []
    for name in TEXT_FIELDS:
        value = fields.get(name)
        if not isinstance(value, str):
            continue
        for chunk, _start, _end in find_candidates(value[:MAX_TEXT]):
            check = validate(chunk, current_year=year)
            warned = {p.code for p in check.problems}
            if check.ok and not check.legacy and "unknown_body" not in warned:
                if check.normalized not in found:
                    found.append(check.normalized)
    return found[:MAX_NUMBERS]


def _link(fields: Mapping[str, Any]) -> str | None:
    for name in TEXT_FIELDS:
        value = fields.get(name)
        if isinstance(value, str):
            url = url_of(value[:MAX_TEXT])
            if url:
                return url[:300]
    return None


def _platform(named: str | None, fields: Mapping[str, Any], link: str | None) -> str | None:
    """The platform the consumer named, else one the text names, else the link's host."""
    if named:
        return named[:32]
    for name in TEXT_FIELDS:
        value = fields.get(name)
        found = platform_of(value[:MAX_TEXT]) if isinstance(value, str) else None
        if found:
            return found
    if not link:
        return None
    return (urlsplit(link).hostname or "")[:32] or None


def record(session: Session, case: Case) -> int:
    """Record the certificate numbers a newly filed case names (its transaction); how many."""
    fields = case.fields
    numbers = numbers_in(fields, year=case.submitted_at.astimezone(SHANGHAI).year)
    if not numbers:
        return 0
    shop = fields.get("target_name") or fields.get("merchant")
    link = _link(fields)
    values = {
        "case_id": case.id,
        "platform": _platform(case.platform, fields, link),
        "link": link,
        "shop": str(shop)[:200] if shop else None,
        "reported_at": case.submitted_at,
    }
    session.execute(insert(CertificateReport), [{**values, "cert_no": n} for n in numbers])
    return len(numbers)


def counts_sync(session: Session, cert_nos: Iterable[str]) -> dict[str, int]:
    """Consumer cases naming each number (numbers no case names are left out)."""
    wanted = sorted(set(cert_nos))
    if not wanted:
        return {}
    stmt = (
        select(CertificateReport.cert_no, func.count(func.distinct(CertificateReport.case_id)))
        .where(CertificateReport.cert_no.in_(wanted))
        .group_by(CertificateReport.cert_no)
    )
    return {number: int(n) for number, n in session.execute(stmt)}


async def counts(session: AsyncSession, cert_nos: Iterable[str]) -> dict[str, int]:
    numbers = list(cert_nos)
    return await session.run_sync(lambda s: counts_sync(s, numbers))


@dataclass(frozen=True)
class Named:
    """A certificate number a case names, as staff see it on the case."""

    cert_no: str
    status: str  # the registry's word (有效, 暂停…), or that the registry lacks it
    reports: int  # consumer cases naming it, this one included


async def case_certificates(session: AsyncSession, case_id: int) -> list[Named]:
    """The certificate numbers one case names, in the order recorded, with the registry's
    status and how many consumer cases name each."""
    stmt = (
        select(CertificateReport.cert_no, CccCertificate.status)
        .outerjoin(CccCertificate, CccCertificate.cert_no == CertificateReport.cert_no)
        .where(CertificateReport.case_id == case_id)
        .order_by(CertificateReport.id)
    )
    named = (await session.execute(stmt)).all()
    reports = await counts(session, [number for number, _ in named])
    return [
        Named(number, CertStatus(status).zh if status else "证书库中没有", reports.get(number, 0))
        for number, status in named
    ]


# ---- the monthly export for platforms ---------------------------------------------------------
HEADER = (
    "平台 platform",
    "商品链接 listing link",
    "店铺 shop",
    "证书编号 certificate number",
    "导出时证书状态 registry status at export",
    "消费者反映次数 reports",
    "首次反映 first reported",
    "最近反映 last reported",
)


@dataclass(frozen=True)
class ExportRow:
    platform: str
    link: str
    shop: str
    cert_no: str
    status: str
    reports: int
    first: date
    last: date

    def cells(self) -> list[Any]:
        return [
            self.platform,
            self.link,
            self.shop,
            self.cert_no,
            self.status,
            self.reports,
            self.first.isoformat(),
            self.last.isoformat(),
        ]


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """A ``YYYY-MM`` month in Shanghai as UTC instants [start, end); ValueError if malformed."""
    year, sep, number = month.partition("-")
    if not (sep and len(year) == 4 and len(number) == 2 and year.isdigit() and number.isdigit()):
        raise ValueError(f"month must be YYYY-MM, not {month[:20]!r}")
    start = datetime(int(year), int(number), 1, tzinfo=SHANGHAI)
    after = (
        datetime(start.year + 1, 1, 1, tzinfo=SHANGHAI)
        if start.month == 12
        else datetime(start.year, start.month + 1, 1, tzinfo=SHANGHAI)
    )
    return start.astimezone(UTC), after.astimezone(UTC)


async def month_rows(session: AsyncSession, month: str) -> list[ExportRow]:
    """Each listing and number consumers reported in ``month``, with the registry's status
    now; most reported first."""
    start, end = month_bounds(month)
    R = CertificateReport
    stmt = (
        select(
            R.platform,
            R.link,
            R.shop,
            R.cert_no,
            CccCertificate.status,
            func.count(func.distinct(R.case_id)),
            func.min(R.reported_at),
            func.max(R.reported_at),
        )
        .outerjoin(CccCertificate, CccCertificate.cert_no == R.cert_no)
        .where(R.reported_at >= start, R.reported_at < end)
        .group_by(R.platform, R.link, R.shop, R.cert_no, CccCertificate.status)
    )
    rows = [
        ExportRow(
            platform=platform or "",
            link=link or "",
            shop=shop or "",
            cert_no=cert_no,
            status=status or NOT_FOUND,
            reports=int(n),
            first=_day(first),
            last=_day(last),
        )
        for platform, link, shop, cert_no, status, n, first, last in await session.execute(stmt)
    ]
    rows.sort(key=lambda r: (-r.reports, r.platform, r.cert_no, r.link, r.shop))
    return rows


def _day(moment: datetime) -> date:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(SHANGHAI).date()


def _safe(value: Any) -> Any:
    """A cell a spreadsheet will not run as a formula (a shop named "=HYPERLINK(…)")."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def as_csv(rows: Sequence[ExportRow]) -> bytes:
    """UTF-8 with a BOM, so a spreadsheet opened by double-click reads the Chinese."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    for row in rows:
        writer.writerow([_safe(c) for c in row.cells()])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def as_xlsx(rows: Sequence[ExportRow], month: str) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(f"CCC {month}")
    sheet.append(list(HEADER))
    for row in rows:
        sheet.append([_safe(c) for c in row.cells()])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
