"""The unified social credit code: real-shaped valid and invalid codes, and codes in text."""

from __future__ import annotations

import pytest
from stdnum.cn.uscc import calc_check_digit

from nlu import uscc

# The code printed in python-stdnum's documentation (a Beijing enterprise), and codes of the
# same shape for other kinds of registrant, each with its check character computed.
PUBLISHED = "91110000600037341L"


def with_check(body: str) -> str:
    return body + calc_check_digit(body)


VALID = [
    PUBLISHED,
    with_check("91440300MA5DCXYT0"),  # Shenzhen company (MA… organisation code)
    with_check("92330106MA2H1B2C3"),  # individual business (9, 2), Hangzhou Xihu
    with_check("93510107MA6CA1234"),  # farmers' cooperative (9, 3), Chengdu Wuhou
    with_check("12100000400012345"),  # public institution (1, 2)
]


@pytest.mark.parametrize("code", VALID)
def test_valid_codes_are_accepted_with_their_region_code(code: str) -> None:
    check = uscc.validate(code)
    assert check.ok and check.normalized == code
    assert check.division_code == code[2:8]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("9111 0000 6000 3734 1L", PUBLISHED),  # grouped as on some licences
        ("91110000-600037341-l", PUBLISHED),  # dashes, lower case
        ("９１１１００００６０００３７３４１Ｌ", PUBLISHED),  # full-width
    ],
)
def test_spacing_case_and_width_are_normalised(typed: str, expected: str) -> None:
    assert uscc.validate(typed).normalized == expected and uscc.validate(typed).ok


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ("91110000600037341M", "checksum"),  # one check character off
        ("91110000600037314L", "checksum"),  # two characters swapped
        ("91110000600037341", "length"),  # 17 characters
        ("911100006000373411L", "length"),  # 19 characters
        ("9111000060003734IL", "format"),  # I is not in the code's alphabet
        ("9111000060003734OL", "format"),  # nor O
        ("A1110000600037341L", "format"),  # the first 8 are digits (stdnum's rule)
        ("", "empty"),
    ],
)
def test_invalid_codes_say_why(code: str, problem: str) -> None:
    check = uscc.validate(code)
    assert not check.ok and check.problem == problem and check.division_code is None


def test_a_code_is_found_in_a_sentence_and_a_bad_one_is_reported_not_skipped() -> None:
    found = uscc.find(f"商家是星河数码，执照上代码{PUBLISHED}，在深圳")
    assert found is not None and found.ok and found.normalized == PUBLISHED
    bad = uscc.find("信用代码 91110000600037341M")
    assert bad is not None and bad.problem == "checksum"
    assert uscc.find("订单号 1234567890123456789012") is None  # 22 digits: not a code
    assert uscc.find("没有代码") is None


def test_company_names_are_found_but_not_this_shop_words() -> None:
    assert uscc.find_name("查一下深圳市星河数码有限公司") == "深圳市星河数码有限公司"
    assert uscc.find_name("帮我查查杭州西湖优品服饰有限公司怎么样") == "杭州西湖优品服饰有限公司"
    assert uscc.find_name("查一下这家店") is None
    assert uscc.find_name("某某数码专营店", shops=False) is None
    assert uscc.find_name("某某数码专营店") == "某某数码专营店"
