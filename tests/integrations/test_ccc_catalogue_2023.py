"""The catalogue and code table as corrected in the 2026-12-01 domain review, and the verdicts
that say only what was checked: a certificate's shape per category, a lawful switch
certificate, self-declared goods without a certificate, an expired certificate."""

from __future__ import annotations

from datetime import date

import pytest

from dialogues.answers import certificate_reply, listing_reply
from dialogues.knowledge_port import Certificate, CertStatus, ListingVerdict, Match, Requirement
from integrations.ccc.catalogue import default_catalogue
from integrations.ccc.numbers import load_codes, validate
from integrations.ccc.service import CccService

TODAY = date(2026, 6, 1)


def _cert(cert_no: str, status: CertStatus = CertStatus.VALID, **extra: object) -> Certificate:
    values: dict[str, object] = {
        "cert_no": cert_no,
        "holder": "浙江某某电器有限公司",
        "manufacturer": "浙江某某电器有限公司",
        "product": "开关",
        "model": "K86-1",
        "category_code": cert_no[6:10],
        "status": status,
        "issued_on": date(2024, 3, 1),
        "expires_on": date(2029, 2, 28),
        **extra,
    }
    return Certificate(**values)  # type: ignore[arg-type]


class Registry:
    def __init__(self, *certificates: Certificate) -> None:
        self.records = {c.cert_no: c for c in certificates}

    async def get(self, cert_no: str) -> Certificate | None:
        return self.records.get(cert_no)


# One real-shaped number per catalogue product that has certificate codes: year, body 01
# (CQC), the product's category code, a serial. Each must pass the shape check with its
# category known and named, and fit the product it belongs to.
SHAPES = [
    (product.id, f"202401{code}{n:06d}", code)
    for n, product in enumerate(default_catalogue().products, start=1)
    for code in product.cert_codes
]


@pytest.mark.parametrize(("product_id", "number", "code"), SHAPES)
async def test_a_real_shaped_number_of_each_category_is_known_and_fits_its_product(
    product_id: str, number: str, code: str
) -> None:
    check = validate(number, current_year=2026)
    assert check.ok and check.category_code == code
    assert [p.code for p in check.problems] == [], check.problems
    product = default_catalogue().get(product_id)
    assert product is not None
    registry = Registry(_cert(number))
    result = await CccService(registry, today=lambda: TODAY).check_certificate(
        number, product=product.zh
    )
    assert result.category_match is Match.MATCH


def test_corrected_codes() -> None:
    codes = load_codes().categories
    assert codes["0104"]["zh"] == "橡皮绝缘电线电缆"
    assert codes["0105"]["zh"] == "聚氯乙烯绝缘电线电缆"
    assert "开关" in codes["0202"]["zh"] and codes["0204"]["zh"] == "器具耦合器"
    assert codes["0205"]["en"] == "fuses"
    assert default_catalogue().lookup("墙壁开关").cert_codes == ("0202",)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "word", ["电钻", "电锤", "电动砂轮机", "电焊机", "空开", "漏电保护器", "断路器"]
)
def test_power_tools_welders_and_low_voltage_apparatus_are_self_declared(word: str) -> None:
    answer = default_catalogue().answer(word, on=TODAY)
    assert answer.requirement is Requirement.SELF_DECLARATION


async def test_a_lawful_switch_certificate_is_valid_and_asks_to_match_holder_and_model() -> None:
    number = "2024010202123456"
    service = CccService(Registry(_cert(number)), today=lambda: TODAY)
    check = await service.check_certificate(number, product="墙壁开关")
    reply = certificate_reply(check, "zh")
    assert "证书本身有效；请核对持证人和型号与商品一致" in reply
    assert "不符" not in reply and "冒充" not in reply
    listing = await service.check_listing(f"86型墙壁开关 一开单控 3C证书编号 {number}")
    assert listing.verdict is ListingVerdict.LOOKS_OK
    text = listing_reply(listing, "zh")
    assert "结论：证书本身有效；请核对持证人和型号与商品一致。" in text
    english = listing_reply(listing, "en")
    assert "check that its holder and model match the product" in english


async def test_self_declared_goods_without_a_certificate_are_not_reported() -> None:
    service = CccService(Registry(), today=lambda: TODAY)
    for listing_text in ("博世款 冲击电钻 家用 手电钻 包邮", "正泰款 家用空开 2P 63A 漏电保护"):
        listing = await service.check_listing(listing_text)
        assert listing.verdict is ListingVerdict.SELF_DECLARATION, listing_text
        text = listing_reply(listing, "zh")
        assert "举报" not in text and "sdoc.cnca.cn" in text


@pytest.mark.parametrize("status", [CertStatus.EXPIRED, CertStatus.CANCELLED])
async def test_an_expired_or_cancelled_certificate_is_not_called_illegal(
    status: CertStatus,
) -> None:
    number = "2018010914000777"
    cert = _cert(number, status, product="移动电源", expires_on=date(2023, 2, 28))
    service = CccService(Registry(cert), today=lambda: TODAY)
    listing = await service.check_listing(f"充电宝 20000mAh 3C证书 {number}")
    assert listing.verdict is ListingVerdict.LAPSED
    text = listing_reply(listing, "zh")
    assert "不能证明现在卖的商品违法" in text and "生产日期" in text
    assert "退一赔三" not in text and "举报" not in text
    assert "three times" not in listing_reply(listing, "en")


async def test_a_registry_valid_certificate_past_its_end_date_is_lapsed_too() -> None:
    number = "2019010702000006"
    cert = _cert(number, CertStatus.VALID, product="电风扇", expires_on=date(2024, 4, 30))
    listing = await CccService(Registry(cert), today=lambda: TODAY).check_listing(
        f"落地扇 家用 3C认证 {number}"
    )
    assert listing.verdict is ListingVerdict.LAPSED
    assert "退一赔三" not in listing_reply(listing, "zh")


def test_tobacco_goes_to_12313() -> None:
    answer = default_catalogue().answer("假烟", on=TODAY)
    assert answer.requirement is Requirement.NOT_IN_CCC
    assert "12313" in answer.instead["zh"] and "12313" in answer.instead["en"]
