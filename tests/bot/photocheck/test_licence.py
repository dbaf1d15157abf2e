"""Business licence photos (营业执照) from the labelled set: the credit code is read only with a
check digit that adds up, with the registered name and address beside it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.photocheck.fields import build_reading
from bot.photocheck.pool import OcrPool
from bot.photocheck.types import BUSINESS_NAME, REGISTERED_ADDRESS, USCC, Kind, OcrLine

LABELS = Path(__file__).resolve().parents[2] / "data" / "labels"
LICENCES = sorted(LABELS.glob("*-licence.json"))


def truth(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def printed(t: dict[str, Any]) -> list[OcrLine]:
    """The licence's lines as the recogniser returns them (spaced title and keys)."""
    return [
        OcrLine("营 业 执 照", 0.99),
        OcrLine(f"统一社会信用代码 {t['uscc']}", 0.96),
        OcrLine(f"名　　称 {t['business_name']}", 0.97),
        OcrLine("类　　型 有限责任公司（自然人投资或控股）", 0.95),
        OcrLine(f"住　　所 {t['registered_address']}", 0.95),
    ]


def test_the_set_has_licences_with_a_bad_check_digit_among_them() -> None:
    truths = [truth(p) for p in LICENCES]
    assert len(truths) >= 4 and all((LABELS / t["file"]).exists() for t in truths)
    assert [t["uscc_valid"] for t in truths].count(False) == 1


@pytest.mark.parametrize("path", LICENCES, ids=lambda p: p.stem)
def test_a_licence_reads_its_code_only_when_the_check_digit_adds_up(path: Path) -> None:
    t = truth(path)
    reading = build_reading(printed(t))
    codes = [f.value for f in reading.all(USCC)]
    if t["uscc_valid"]:
        assert codes == [t["uscc"]] and reading.kind is Kind.LICENCE
    else:
        assert codes == [] and reading.kind is not Kind.LICENCE
    # A licence's name and address are read either way (it says 营业执照).
    assert reading.best(BUSINESS_NAME).value == t["business_name"]  # type: ignore[union-attr]
    assert reading.best(REGISTERED_ADDRESS).value == t["registered_address"]  # type: ignore[union-attr]


def test_a_label_with_a_name_line_is_no_licence() -> None:
    reading = build_reading([OcrLine("名称：移动电源", 0.95), OcrLine("型号：PB-2000", 0.95)])
    assert reading.all(BUSINESS_NAME) == () and reading.kind is not Kind.LICENCE


@pytest.mark.slow
async def test_licence_photos_through_the_real_reader() -> None:
    pool = OcrPool(workers=1, queue=len(LICENCES), timeout=120)
    try:
        for path in LICENCES:
            t = truth(path)
            reading = await pool.read((LABELS / t["file"]).read_bytes())
            codes = [f.value for f in reading.all(USCC)]
            assert codes == ([t["uscc"]] if t["uscc_valid"] else []), (path.stem, reading.text)
            if t["uscc_valid"]:
                assert reading.kind is Kind.LICENCE, (path.stem, reading.text)
                name = reading.best(BUSINESS_NAME)
                assert name is not None and name.value == t["business_name"], reading.text
    finally:
        await pool.close()
