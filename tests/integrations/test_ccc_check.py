"""Certificate checks against the embedded registry holding the SAMPLE data (SQLite and PG)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import pytest

from bot.db.engine import make_engine
from dialogues.knowledge_port import Certificate, CertStatus, Match, Requirement
from integrations.ccc import importer, sample
from integrations.ccc.registry import EmbeddedRegistry, RegistryUnavailable
from integrations.ccc.service import CccService

ON = date(2026, 6, 1)


@pytest.fixture
async def service(db_url: str) -> AsyncIterator[CccService]:
    engine = make_engine(db_url)
    await importer.upsert(engine, sample.generate())
    yield CccService(EmbeddedRegistry(engine), today=lambda: ON)
    await engine.dispose()


@pytest.mark.parametrize(
    ("number", "status"),
    [
        ("2024010914000001", CertStatus.VALID),
        ("2024010914000002", CertStatus.SUSPENDED),
        ("2023010914000003", CertStatus.REVOKED),
        ("2022010901000004", CertStatus.CANCELLED),
        ("2017010701000005", CertStatus.EXPIRED),
    ],
)
async def test_every_status_is_reported(
    service: CccService, number: str, status: CertStatus
) -> None:
    check = await service.check_certificate(number)
    assert check.found and check.looked_up
    assert check.status is status
    assert check.acceptable is (status is CertStatus.VALID)
    assert check.is_sample


async def test_valid_status_past_its_end_date_counts_as_expired(service: CccService) -> None:
    check = await service.check_certificate("2019010702000006")
    assert check.certificate is not None and check.certificate.status is CertStatus.VALID
    assert check.status is CertStatus.EXPIRED


async def test_number_typed_in_a_sentence_with_full_width_digits(service: CccService) -> None:
    check = await service.check_certificate("请查 ２０２４－０１０９－１４００－０００１ 这个证书")
    assert check.found and check.status is CertStatus.VALID


async def test_category_matches_or_mismatches_the_named_product(service: CccService) -> None:
    ok = await service.check_certificate("2024010914000001", product="充电宝")
    assert ok.category_match is Match.MATCH
    bad = await service.check_certificate("2024010914000001", product="插座")
    assert bad.category_match is Match.MISMATCH and not bad.acceptable
    assert bad.category_name["zh"].startswith("移动电源")


async def test_mismatch_is_seen_even_when_the_number_is_not_registered(service: CccService) -> None:
    check = await service.check_certificate("2024010901999999", product="充电宝")
    assert not check.found and check.looked_up
    assert check.category_match is Match.MISMATCH


async def test_invalid_shape_is_not_looked_up(service: CccService) -> None:
    check = await service.check_certificate("201601090112345")
    assert not check.number.ok and not check.looked_up and not check.found


async def test_not_found_for_a_self_declaration_product_keeps_the_product(
    service: CccService,
) -> None:
    check = await service.check_certificate("2020010401000123", product="小电机")
    assert not check.found
    assert check.product is not None
    assert check.product.requirement is Requirement.SELF_DECLARATION


async def test_legacy_number_is_looked_up(service: CccService) -> None:
    check = await service.check_certificate("200301010001")
    assert check.number.legacy and check.found and check.status is CertStatus.EXPIRED


class DownRegistry:
    async def get(self, cert_no: str) -> Certificate | None:
        raise RegistryUnavailable("down")


async def test_registry_outage_is_not_reported_as_not_found() -> None:
    check = await CccService(DownRegistry()).check_certificate("2024010914000001")
    assert check.registry_unavailable and not check.looked_up and not check.found
