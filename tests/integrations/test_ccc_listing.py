"""Listing checks: product type and certificate numbers found in pasted listing text."""

from __future__ import annotations

from datetime import date

from dialogues.knowledge_port import Certificate, CertStatus, ListingVerdict, Requirement
from integrations.ccc import sample
from integrations.ccc.listing import find_listing_numbers
from integrations.ccc.service import CccService


class MemoryRegistry:
    """The SAMPLE data in a dict: listing logic needs no database."""

    def __init__(self) -> None:
        self.records = {c.cert_no: c for c in sample.generate()}

    async def get(self, cert_no: str) -> Certificate | None:
        return self.records.get(cert_no)


def service() -> CccService:
    return CccService(MemoryRegistry(), today=lambda: date(2026, 6, 1))


LISTING_OK = """【官方旗舰】20000mAh 充电宝 22.5W快充 自带线
3C认证 证书编号：2024 0109 1400 0001
客服电话 13812345678 条码 6901234567892"""


async def test_valid_matching_certificate_looks_ok_and_noise_is_ignored() -> None:
    result = await service().check_listing(LISTING_OK)
    assert result.product is not None and result.product.product_id == "power_bank"
    assert result.product.requirement is Requirement.REQUIRED
    assert [c.number.normalized for c in result.certificates] == ["2024010914000001"]
    assert result.verdict is ListingVerdict.LOOKS_OK
    assert "verify_official" in result.next_steps
    assert result.uses_sample


async def test_suspended_certificate_is_a_problem_with_report_and_complain_steps() -> None:
    result = await service().check_listing("移动电源 10000mAh CCC证书2024010914000002")
    assert result.verdict is ListingVerdict.PROBLEM
    assert result.certificates[0].status is CertStatus.SUSPENDED
    assert {"report", "complain"} <= set(result.next_steps)


async def test_certificate_of_another_product_is_a_problem() -> None:
    result = await service().check_listing("公牛款插线板 五孔 3C证书：2024010914000001")
    assert result.product is not None and result.product.product_id == "plug_socket"
    assert result.verdict is ListingVerdict.PROBLEM


async def test_required_product_without_a_number() -> None:
    result = await service().check_listing("迷你充电宝 超薄 大容量 包邮")
    assert result.verdict is ListingVerdict.MISSING_CERT
    assert "ask_seller" in result.next_steps


async def test_power_bank_listing_before_the_mandatory_date_is_not_required() -> None:
    result = await service().check_listing("迷你充电宝 超薄", on=date(2024, 5, 1))
    assert result.verdict is ListingVerdict.NOT_REQUIRED


async def test_malformed_number_after_a_keyword_is_reported() -> None:
    result = await service().check_listing("充电宝 3C证书编号：2024A10914000001")
    assert result.verdict is ListingVerdict.PROBLEM
    assert result.certificates[0].number.problems[0].code == "letters"


async def test_cosmetics_listing_is_outside_ccc() -> None:
    result = await service().check_listing("正品口红 哑光 持久不脱色")
    assert result.verdict is ListingVerdict.NOT_REQUIRED
    assert result.next_steps == ("other_rules",)


async def test_self_declaration_listing() -> None:
    result = await service().check_listing("微型小电机 12V 直流")
    assert result.verdict is ListingVerdict.SELF_DECLARATION


def test_numbers_need_a_certificate_shape_or_keyword() -> None:
    assert find_listing_numbers("订单号 123456789012345678 电话 13812345678") == []
    assert find_listing_numbers("证书号 201601090112345") == ["201601090112345"]
