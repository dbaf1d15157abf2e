"""Certificate number normalisation and shape validation, as a user typing numbers sees it."""

from __future__ import annotations

import pytest

from integrations.ccc.numbers import extract_number, find_candidates, normalize, validate


def codes_of(raw: str) -> list[str]:
    return [p.code for p in validate(raw, current_year=2026).problems]


@pytest.mark.parametrize(
    "typed",
    [
        "2016010901123456",
        "２０１６０１０９０１１２３４５６",  # full-width digits from a Chinese keyboard
        "2016 0109 0112 3456",
        "2016-0109-0112-3456",
        "2016－0109－0112－3456",  # full-width dash
        " 2016010901123456\n",
    ],
)
def test_typed_forms_normalise_to_the_same_valid_number(typed: str) -> None:
    check = validate(typed, current_year=2026)
    assert check.normalized == "2016010901123456"
    assert check.ok and check.problems == ()
    assert (check.year, check.body, check.category_code) == (2016, "01", "0901")


def test_letters_are_an_error_naming_the_letters() -> None:
    check = validate("2016O1090112345I", current_year=2026)
    assert not check.ok
    assert check.problems[0].code == "letters"
    assert check.problems[0].params["chars"] == "IO"


@pytest.mark.parametrize("digits", ["201601090112345", "20160109011234567"])
def test_fifteen_or_seventeen_digits_is_a_length_error(digits: str) -> None:
    check = validate(digits, current_year=2026)
    assert not check.ok
    assert check.problems[0].code == "length"
    assert check.problems[0].params["length"] == len(digits)


@pytest.mark.parametrize("number", ["1999010901123456", "2031010901123456"])
def test_implausible_year_is_an_error(number: str) -> None:
    assert codes_of(number) == ["year"]
    assert not validate(number, current_year=2026).ok


def test_unknown_body_and_category_warn_but_still_allow_a_lookup() -> None:
    check = validate("2016990000123456", current_year=2026)
    assert [p.code for p in check.problems] == ["unknown_body", "unknown_category"]
    assert check.ok


def test_legacy_twelve_digit_number_is_accepted_but_flagged() -> None:
    check = validate("200301010001", current_year=2026)
    assert check.ok and check.legacy
    assert check.category_code is None


def test_empty_input_is_an_error() -> None:
    assert codes_of("   ") == ["empty"]


def test_number_is_found_inside_a_sentence() -> None:
    assert (
        normalize(extract_number("帮我查下证书 2021 0109 1412 3456 是不是真的"))
        == "2021010914123456"
    )
    assert extract_number("证书号是２０２１０１０９１４１２３４５６。") == "2021010914123456"


def test_short_numbers_and_words_are_not_candidates() -> None:
    assert find_candidates("容量20000mAh，3C认证，型号PB-2") == []
