"""Catalogue answers: aliases, date-aware requirements, self-declaration, products outside CCC."""

from __future__ import annotations

from datetime import date

import pytest

from dialogues.knowledge_port import Requirement
from integrations.ccc.catalogue import default_catalogue


def answer(product: str, on: date) -> Requirement:
    return default_catalogue().answer(product, on=on).requirement


@pytest.mark.parametrize("alias", ["充电宝", "移动电源", "power bank", "Powerbank"])
def test_everyday_aliases_name_the_same_product(alias: str) -> None:
    assert default_catalogue().answer(alias, on=date(2025, 1, 1)).product_id == "power_bank"


def test_power_banks_need_ccc_only_from_2024_08_01() -> None:
    assert answer("充电宝", date(2024, 7, 31)) is Requirement.NOT_YET
    assert answer("充电宝", date(2024, 8, 1)) is Requirement.REQUIRED
    result = default_catalogue().answer("充电宝", on=date(2024, 1, 1))
    assert result.effective_from == date(2024, 8, 1)
    assert result.applications_from == date(2023, 8, 1)


def test_ebike_batteries_need_ccc_from_2025_11_01() -> None:
    assert answer("电动车电池", date(2025, 10, 31)) is Requirement.NOT_YET
    assert answer("电动车电池", date(2025, 11, 1)) is Requirement.REQUIRED


def test_toys_before_2007_were_not_yet_in_ccc() -> None:
    assert answer("遥控车", date(2007, 5, 31)) is Requirement.NOT_YET
    assert answer("遥控车", date(2007, 6, 1)) is Requirement.REQUIRED


def test_self_declaration_product() -> None:
    assert answer("小电机", date(2025, 1, 1)) is Requirement.SELF_DECLARATION


def test_ebike_helmets_are_reported_as_conflicting() -> None:
    assert answer("电动车头盔", date(2025, 1, 1)) is Requirement.CONFLICTING
    assert answer("摩托车头盔", date(2025, 1, 1)) is Requirement.REQUIRED


@pytest.mark.parametrize(
    ("product", "hint"), [("口红", "nmpa"), ("奶粉", "SC"), ("感冒药", "国药准字")]
)
def test_products_outside_ccc_say_what_applies_instead(product: str, hint: str) -> None:
    result = default_catalogue().answer(product, on=date(2025, 1, 1))
    assert result.requirement is Requirement.NOT_IN_CCC
    assert hint in result.instead["zh"]
    assert result.instead["en"]


def test_unknown_product() -> None:
    assert answer("宇宙飞船", date(2025, 1, 1)) is Requirement.UNKNOWN


def test_longest_alias_wins_in_running_text() -> None:
    found = default_catalogue().find_in_text("新款电动车电池 48V 送电动车充电器")
    assert [p.id for p in found] == ["ebike_battery"]


def test_every_product_has_a_source_and_both_names() -> None:
    for product in default_catalogue().products:
        assert product.source and product.zh and product.en
        if product.mode == "not_in_ccc":
            assert set(product.instead) == {"zh", "en"}
