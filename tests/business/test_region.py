"""The seller's region from addresses and codes, measured on the address set.

The set (data/addresses.tsv) holds 125 real-shaped addresses with their county codes; the
parser was chosen on it (benchmarks/RESULTS.md, "Seller region"). Targets: province and city
≥ 95 %, district ≥ 90 %.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.business.region import Regions, looks_like_address, shared

ADDRESSES = Path(__file__).parent / "data" / "addresses.tsv"
MUNICIPALITIES = {"11", "12", "31", "50"}


def address_set() -> list[tuple[str, str]]:
    rows = []
    for line in ADDRESSES.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith(("#", "address\t")):
            address, code = line.split("\t")
            rows.append((address, code))
    return rows


@pytest.fixture(scope="module")
def regions() -> Regions:
    return shared()


def test_accuracy_on_the_address_set_meets_the_targets(regions: Regions) -> None:
    rows = address_set()
    assert len(rows) >= 100
    city = district = 0
    misses = []
    for address, expected in rows:
        found = regions.from_address(address, source="registered_address")
        code = found.code if found else ""
        prefix = 2 if expected[:2] in MUNICIPALITIES else 4
        city += code[:prefix] == expected[:prefix]
        district += code == expected
        if code != expected:
            misses.append((address, expected, code))
    assert city / len(rows) >= 0.95, misses
    assert district / len(rows) >= 0.90, misses


def test_a_district_without_its_city_is_not_guessed(regions: Regions) -> None:
    # 朝阳区 is in Beijing and in Changchun; 南山区 in Shenzhen and Hegang…
    assert regions.from_address("朝阳区建国路88号", source="merchant_address") is None
    assert regions.from_address("https://shop1234.taobao.com", source="merchant_address") is None
    assert regions.from_address("", source="merchant_address") is None
    changchun = regions.from_address("吉林省长春市朝阳区西安大路", source="merchant_address")
    assert changchun is not None and changchun.code == "220104"


def test_a_city_alone_gives_a_city_level_region(regions: Regions) -> None:
    found = regions.from_address("深圳市华强北赛格广场", source="merchant_address")
    assert found is not None and found.code == "440300" and found.district == ""


def test_the_credit_codes_region_code_names_the_place(regions: Regions) -> None:
    nanshan = regions.from_code("440305")
    assert nanshan is not None and nanshan.label == "广东省深圳市南山区"
    assert nanshan.source == "uscc"
    assert regions.from_code("440000") is None  # a province routes nowhere
    assert regions.from_code("999999") is None  # not a division: staff are asked
    dongguan = regions.from_code("441900")
    assert dongguan is not None and dongguan.district == "" and dongguan.city == "东莞市"


@pytest.mark.parametrize(
    ("text", "is_place"),
    [
        ("https://shop.example.com/123", False),  # a link where the address was asked
        ("某某数码专营店", False),
        ("我在11月3号买的，花了129元", False),
        ("北京市朝阳区建国路1号", True),
        ("浙江杭州西湖文三路90号", True),  # no 省/市/区, a province's name
        ("延边朝鲜族自治州延吉市", True),
    ],
)
def test_only_text_that_could_name_a_place_is_parsed(text: str, is_place: bool) -> None:
    """The parser costs ~10 ms a call on any text; a link or a shop's name is not given to
    it (and every address of the set still is: the accuracy test goes through the same
    check)."""
    assert looks_like_address(text) is is_place
    assert all(looks_like_address(address) for address, _ in address_set())
