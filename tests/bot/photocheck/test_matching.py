"""Printed names and models against the registry's, as a consumer would judge them."""

from __future__ import annotations

import pytest

from bot.photocheck.matching import company_matches, model_matches, model_range, normalise_company


@pytest.mark.parametrize(
    ("printed", "registered"),
    [
        ("深圳市安新电子有限公司", "深圳市安新电子有限责任公司"),
        ("深圳市安新电子", "深圳市安新电子股份有限公司"),
        ("ＡＣＭＥ　Ｐｏｗｅｒ Co., Ltd.", "Acme Power Co.,Ltd"),
        ("ACME POWER COMPANY LIMITED", "Acme-Power Ltd."),
        ("安新电子", "深圳市安新电子有限公司"),  # a label's short name is the same company
    ],
)
def test_same_company_written_differently_matches(printed: str, registered: str) -> None:
    assert company_matches(printed, registered)


@pytest.mark.parametrize(
    ("printed", "registered"),
    [
        ("深圳市安新电子有限公司", "东莞市华光电器有限公司"),
        ("Acme Power Co., Ltd.", "Acme Lighting Co., Ltd."),
        ("有限公司", "深圳市安新电子有限公司"),  # a bare suffix names no one
        ("安新", "深圳市安新电子有限公司"),  # too short to count as contained
    ],
)
def test_another_company_does_not_match(printed: str, registered: str) -> None:
    assert not company_matches(printed, registered)


def test_suffixes_are_stripped_but_names_are_kept() -> None:
    assert normalise_company("深圳市安新电子有限公司") == "深圳市安新电子"
    assert normalise_company("Acme Power Co., Ltd.") == "acmepower"


@pytest.mark.parametrize(
    ("printed", "registered"),
    [
        ("PB-2000", "PB2000"),
        ("ｐｂ－２０００", "PB-2000"),
        ("PB 2000S", "PB-2000, PB-2000S、PB-3000"),
        ("PB-3000", "PB-2000；PB-3000（外观颜色不同）"),
        ("PB-4000", "PB-2000/PB-4000"),
        ("1C-1700A", "IC-1700A"),  # OCR read the I as a 1: not another model
        ("PB-2O00", "PB-2000"),
    ],
)
def test_model_equal_after_normalisation_or_in_the_range(printed: str, registered: str) -> None:
    assert model_matches(printed, registered)


@pytest.mark.parametrize(
    ("printed", "registered"),
    [("PB-2001", "PB-2000, PB-2000S"), ("PB-200", "PB-2000"), ("", "PB-2000")],
)
def test_other_models_do_not_match(printed: str, registered: str) -> None:
    assert not model_matches(printed, registered)


def test_model_range_lists_each_model_once() -> None:
    assert model_range("PB-2000, PB-2000S、PB-3000") == {
        "pb2000,pb2000s、pb3000",
        "pb2000",
        "pb2000s",
        "pb3000",
    }
