"""The bundled SAMPLE registry: invented certificates, generated deterministically.

It lets the bot and its tests run with nothing else installed. Every record says SAMPLE in
its holder name and carries ``is_sample=True``, and every answer built on it says so, so no
one mistakes it for the national register (cx.cnca.cn).
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

from dialogues.knowledge_port import Certificate, CertStatus
from integrations.ccc.numbers import load_codes
from integrations.ccc.reader import COLUMNS

SAMPLE_MARK = "示例数据 SAMPLE"
SEED = 20240801

# Hand-picked records documented in the README and used by tests and demos.
SHOWCASE: tuple[tuple[str, str, CertStatus, date], ...] = (
    ("2024010914000001", "0914", CertStatus.VALID, date(2024, 3, 1)),
    ("2024010914000002", "0914", CertStatus.SUSPENDED, date(2024, 4, 2)),
    ("2023010914000003", "0914", CertStatus.REVOKED, date(2023, 9, 3)),
    ("2022010901000004", "0901", CertStatus.CANCELLED, date(2022, 5, 4)),
    ("2017010701000005", "0701", CertStatus.EXPIRED, date(2017, 6, 5)),
    # Registry still says 有效 but the end date has passed: the check reports it expired.
    ("2019010702000006", "0702", CertStatus.VALID, date(2019, 5, 1)),
    ("2021010201000007", "0201", CertStatus.VALID, date(2021, 7, 7)),
    ("2022011606000008", "1606", CertStatus.VALID, date(2022, 8, 8)),
)
LEGACY: tuple[tuple[str, CertStatus, date], ...] = (
    ("200301010001", CertStatus.EXPIRED, date(2003, 8, 1)),
    ("200401020002", CertStatus.CANCELLED, date(2004, 2, 2)),
    ("200501030003", CertStatus.VALID, date(2024, 3, 3)),
)
_STATUS_WEIGHTS = (
    (CertStatus.VALID, 60),
    (CertStatus.SUSPENDED, 8),
    (CertStatus.REVOKED, 8),
    (CertStatus.CANCELLED, 12),
    (CertStatus.EXPIRED, 12),
)
_CITIES = ("深圳", "东莞", "宁波", "苏州", "佛山", "中山", "温州", "青岛", "杭州", "厦门")
_FIRMS = ("华光", "远航", "恒达", "安泰", "德信", "明辉", "新宇", "正泰科", "博瑞", "鑫源")


def _expiry(issued: date, years: int) -> date:
    try:
        end = issued.replace(year=issued.year + years)
    except ValueError:  # 29 February
        end = issued.replace(year=issued.year + years, day=28)
    return end - timedelta(days=1)


def _record(
    cert_no: str, category: str | None, status: CertStatus, issued: date, rng: random.Random
) -> Certificate:
    codes = load_codes()
    name = codes.categories[category]["zh"] if category else "电器附件"
    firm = f"{rng.choice(_CITIES)}{rng.choice(_FIRMS)}电子有限公司"
    return Certificate(
        cert_no=cert_no,
        holder=f"{firm}（{SAMPLE_MARK}）",
        manufacturer=firm,
        product=name,
        model=f"SAMPLE-{rng.randrange(100, 999)}{rng.choice('ABCDEFGHJK')}",
        category_code=category,
        status=status,
        issued_on=issued,
        expires_on=_expiry(issued, codes.validity_years),
        is_sample=True,
    )


def generate(count: int = 600, *, seed: int = SEED) -> Iterator[Certificate]:
    """``count`` sample certificates (showcase and legacy ones first); same seed, same data."""
    rng = random.Random(seed)  # noqa: S311 -- reproducible demo data, not security
    codes = load_codes()
    categories = sorted(codes.categories)
    bodies = ["01"] * 8 + sorted(b for b in codes.bodies if b != "01")
    seen: set[str] = set()
    fixed = [_record(n, c, s, d, rng) for n, c, s, d in SHOWCASE]
    fixed += [_record(n, None, s, d, rng) for n, s, d in LEGACY]
    for cert in fixed[:count]:
        seen.add(cert.cert_no)
        yield cert
    statuses = [s for s, _ in _STATUS_WEIGHTS]
    weights = [w for _, w in _STATUS_WEIGHTS]
    produced = len(fixed)
    while produced < count:
        category = categories[produced % len(categories)]
        status = rng.choices(statuses, weights)[0]
        # Expired certificates are old; the others were issued within their 5-year validity.
        year = (
            rng.randrange(2010, 2019) if status is CertStatus.EXPIRED else rng.randrange(2022, 2026)
        )
        issued = date(year, rng.randrange(1, 13), rng.randrange(1, 29))
        cert_no = f"{year}{rng.choice(bodies)}{category}{rng.randrange(0, 10**6):06d}"
        if cert_no in seen:
            continue
        seen.add(cert_no)
        produced += 1
        yield _record(cert_no, category, status, issued, rng)


def write_csv(path: Path, certificates: Iterator[Certificate] | list[Certificate]) -> int:
    """Write certificates in the import format (status in Chinese, dates ISO)."""
    rows = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for c in certificates:
            writer.writerow(
                (
                    c.cert_no,
                    c.holder,
                    c.manufacturer,
                    c.product,
                    c.model,
                    c.category_code or "",
                    c.status.zh,
                    c.issued_on.isoformat() if c.issued_on else "",
                    c.expires_on.isoformat() if c.expires_on else "",
                )
            )
            rows += 1
    return rows
