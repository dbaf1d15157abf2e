"""Photo verdicts against the embedded registry (SQLite and PostgreSQL): what the consumer is told."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest

from bot.db.engine import make_engine
from bot.photocheck.fields import build_reading
from bot.photocheck.types import (
    CCC_NUMBER,
    HOLDER,
    MODEL,
    Agreement,
    Kind,
    Mark,
    OcrLine,
    Outcome,
    Reading,
)
from bot.photocheck.verdict import check
from dialogues.knowledge_port import Certificate, CertStatus, ListingVerdict
from integrations.ccc import importer
from integrations.ccc.registry import CertificateRegistry, EmbeddedRegistry, RegistryUnavailable

ON = date(2026, 6, 1)
VALID = Certificate(
    cert_no="2024010914123456",
    holder="深圳市安新电子有限公司",
    manufacturer="东莞市安新制造有限公司",
    product="移动电源",
    model="PB-2000, PB-2000S、PB-3000",
    category_code="0914",
    status=CertStatus.VALID,
    issued_on=date(2024, 3, 1),
    expires_on=date(2029, 2, 28),
)
REVOKED = Certificate(
    cert_no="2023010914654321",
    holder="宁波恒达电器有限公司",
    manufacturer="宁波恒达电器有限公司",
    product="移动电源",
    model="HD-10",
    category_code="0914",
    status=CertStatus.REVOKED,
    issued_on=date(2023, 1, 5),
    expires_on=date(2028, 1, 4),
)


@pytest.fixture
async def registry(db_url: str) -> AsyncIterator[EmbeddedRegistry]:
    engine = make_engine(db_url)
    await importer.upsert(engine, [VALID, REVOKED])
    yield EmbeddedRegistry(engine)
    await engine.dispose()


def label(*texts: str, confidence: float = 0.98) -> Reading:
    return build_reading([OcrLine(t, confidence) for t in texts])


async def test_valid_certificate_matching_label_looks_ok(registry: EmbeddedRegistry) -> None:
    reading = label(
        "移动电源", "CCC", "型号：PB-2000S", "额定容量：10000mAh 3.7V",
        "CCC证书编号：2024010914123456", "制造商：东莞市安新制造有限公司",
    )  # fmt: skip
    verdict = await check(reading, registry, today=lambda: ON)
    assert verdict.outcome is Outcome.LOOKS_OK
    assert verdict.certificates[0].status is CertStatus.VALID
    assert {c.field: c.agreement for c in verdict.comparisons} == {
        "model": Agreement.MATCH,
        "holder": Agreement.NOT_PRINTED,
        "manufacturer": Agreement.MATCH,
    }
    assert verdict.mark is Mark.PRESENT and verdict.mark_expected


async def test_valid_certificate_with_another_model_is_misuse(registry: EmbeddedRegistry) -> None:
    """证书有效，但证书上的型号是 PB-2000…，标签上是 XK-9."""
    reading = label(
        "移动电源", "型号：XK-9", "额定容量：20000mAh", "3C证书号：2024010914123456",
        "委托人：广州市某某贸易有限公司",
    )  # fmt: skip
    verdict = await check(reading, registry, today=lambda: ON)
    assert verdict.outcome is Outcome.MISUSE
    mismatched = {c.field: (c.printed, c.registered) for c in verdict.mismatches()}
    assert mismatched == {
        "model": ("XK-9", "PB-2000, PB-2000S、PB-3000"),
        "holder": ("广州市某某贸易有限公司", "深圳市安新电子有限公司"),
    }
    assert "report" in verdict.next_steps


async def test_revoked_or_unknown_numbers_are_problems(registry: EmbeddedRegistry) -> None:
    revoked = await check(
        label("证书编号 2023010914654321", "型号 HD-10"), registry, today=lambda: ON
    )
    assert revoked.outcome is Outcome.PROBLEM
    assert revoked.certificates[0].status is CertStatus.REVOKED
    unknown = await check(label("CCC 2024010914000999"), registry, today=lambda: ON)
    assert unknown.outcome is Outcome.PROBLEM and not unknown.certificates[0].found


async def test_uncertain_number_is_confirmed_before_any_lookup(registry: EmbeddedRegistry) -> None:
    class Counting:
        calls = 0

        async def get(self, cert_no: str) -> Certificate | None:
            Counting.calls += 1
            return await registry.get(cert_no)

    reading = label("CCC证书编号：2024010914123456", "型号：PB-2000", confidence=0.72)
    verdict = await check(reading, Counting(), today=lambda: ON)
    assert verdict.outcome is Outcome.NEEDS_CONFIRMATION and Counting.calls == 0
    assert [f.name for f in verdict.to_confirm] == [CCC_NUMBER, MODEL]
    sure = reading.confirmed(CCC_NUMBER, "2024010914123456").confirmed(MODEL, "PB-2000")
    again = await check(sure, Counting(), today=lambda: ON)
    assert again.outcome is Outcome.LOOKS_OK and Counting.calls == 1


async def test_registry_down_is_unclear_not_a_problem() -> None:
    class Down:
        async def get(self, cert_no: str) -> Certificate | None:
            raise RegistryUnavailable("timeout")

    registry: CertificateRegistry = Down()
    verdict = await check(label("CCC证书编号 2024010914123456"), registry, today=lambda: ON)
    assert verdict.outcome is Outcome.UNCLEAR


async def test_catalogue_product_without_number_and_without_mark(
    registry: EmbeddedRegistry,
) -> None:
    reading = label(
        "移动电源", "型号：PB-2000", "额定容量：10000mAh", "输入：5V 2A", "制造商：某某公司"
    )
    verdict = await check(reading, registry, today=lambda: ON)
    assert verdict.outcome is Outcome.NO_CERTIFICATE
    assert verdict.mark is Mark.ABSENT and verdict.mark_expected


async def test_food_drug_and_cosmetics_numbers_are_shape_checked(
    registry: EmbeddedRegistry,
) -> None:
    reading = label("配料：小麦粉", "SC30644011500123", "国药准字X20051234", "国妆特字G20210456")
    verdict = await check(reading, registry, today=lambda: ON)
    assert verdict.outcome is Outcome.OTHER_IDS
    shape = {i.name: (i.shape_ok, i.problem) for i in verdict.identifiers}
    assert shape == {
        "sc_licence": (False, "category"),
        "drug_approval": (False, "letter"),
        "cosmetics_filing": (True, ""),
    }
    assert all(
        "nmpa" in i.verify_at["zh"] or "市场监督" in i.verify_at["zh"] for i in verdict.identifiers
    )


async def test_listing_screenshot_gets_the_listing_verdict(registry: EmbeddedRegistry) -> None:
    reading = label(
        "安新官方旗舰店", "充电宝 20000毫安", "¥89 包邮 月销1万", "3C认证 2023010914654321"
    )
    assert reading.kind is Kind.LISTING
    verdict = await check(reading, registry, today=lambda: ON)
    assert verdict.outcome is Outcome.LISTING
    assert verdict.listing is not None and verdict.listing.verdict is ListingVerdict.PROBLEM


async def test_listing_naming_another_model_than_its_certificate(
    registry: EmbeddedRegistry,
) -> None:
    reading = label("移动电源 XK-9 大容量", "¥59 包邮 月销2万", "型号：XK-9",
                    "3C认证编号：2024010914123456", "某某数码专营店")  # fmt: skip
    verdict = await check(reading, registry, today=lambda: ON)
    assert verdict.listing is not None and verdict.listing.verdict is ListingVerdict.LOOKS_OK
    assert [(c.printed, c.registered) for c in verdict.mismatches()] == [
        ("XK-9", "PB-2000, PB-2000S、PB-3000")
    ]


async def test_photo_with_nothing_readable_asks_for_a_better_photo(
    registry: EmbeddedRegistry,
) -> None:
    verdict = await check(build_reading([]), registry, today=lambda: ON)
    assert verdict.outcome is Outcome.NOTHING and verdict.next_steps == ("better_photo",)


async def test_other_links_are_shown_not_followed(registry: EmbeddedRegistry) -> None:
    from bot.photocheck.fields import classify_qr

    reading = build_reading(
        [OcrLine("扫码领红包", 0.99)], [classify_qr("QR Code", "https://shop.example/x")]
    )
    verdict = await check(reading, registry, today=lambda: ON)
    assert verdict.urls == ("https://shop.example/x",)
    assert HOLDER not in {f.name for f in reading.fields}


async def test_imported_certificate_with_a_long_model_range(db_url: str, tmp_path: Path) -> None:
    """`weiquan ccc import` keeps holder, manufacturer and every model of the range, so a
    label showing the 57th model on the certificate is recognised as covered."""
    models = "、".join(f"PB-{n}00S" for n in range(10, 90))  # 80 models, 639 characters
    csv_file = tmp_path / "export.csv"
    csv_file.write_text(
        "cert_no,holder,manufacturer,product,model,category_code,status,issued_on,expires_on\n"
        f"2024010914777777,深圳市安新电子有限公司,东莞市安新制造有限公司,移动电源,{models},"
        "0914,有效,2024-03-01,2029-02-28\n",
        encoding="utf-8",
    )
    engine = make_engine(db_url)
    try:
        report = await importer.import_file(engine, csv_file, current_year=2026)
        assert report.imported == 1 and not report.errors
        reading = label("移动电源", "型号：PB-6600S", "证书编号：2024010914777777",
                        "制造商：东莞市安新制造有限公司")  # fmt: skip
        verdict = await check(reading, EmbeddedRegistry(engine), today=lambda: ON)
        assert verdict.outcome is Outcome.LOOKS_OK
        assert verdict.comparisons[0].registered == models
    finally:
        await engine.dispose()
