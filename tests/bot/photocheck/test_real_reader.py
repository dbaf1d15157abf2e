"""Photos from the labelled set through the real reader (worker process, RapidOCR, zxing-cpp)
and the real check against the set's registry: the answers a consumer would get."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from PIL import Image

from bot.db.engine import make_engine
from bot.photocheck import worker
from bot.photocheck.errors import Unreadable
from bot.photocheck.pool import OcrPool
from bot.photocheck.types import CCC_NUMBER, MODEL, Kind, Mark, OcrLine
from bot.photocheck.verdict import check
from bot.photocheck.worker import decode
from integrations.ccc import importer
from integrations.ccc.registry import EmbeddedRegistry

LABELS = Path(__file__).resolve().parents[2] / "data" / "labels"
# A clean sticker with an e-certificate QR code, an expired one in low light, a box whose
# label shows another model than its certificate's (with a shop's QR code), a listing
# screenshot, a drug box, a drawn photo of a label on a product, two nameplates photographed
# a quarter turn off (one each way; one with another model than its certificate's).
PHOTOS = ("032-sticker", "037-sticker", "050-box", "061-listing", "071-other", "077-real",
          "089-sideways", "090-sideways")  # fmt: skip


def truth(stem: str) -> dict[str, object]:
    return json.loads((LABELS / f"{stem}.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_the_set_has_enough_labelled_photos() -> None:
    photos = sorted(LABELS.glob("*.jpg"))
    assert len(photos) >= 80
    assert all(p.with_suffix(".json").exists() for p in photos)
    assert {truth(p.stem)["layout"] for p in photos} >= {
        "nameplate",
        "sticker",
        "box",
        "listing",
        "real",
    }


def test_a_file_that_is_not_a_picture_is_refused_before_any_ocr() -> None:
    with pytest.raises(Unreadable):
        decode(b"%PDF-1.7 not a photo")


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(out, "PNG")
    return out.getvalue()


def _reads_only_upright_text(seen: list[tuple[int, int]]) -> Callable[[Image.Image], list[OcrLine]]:
    """Stands in for the OCR of a landscape label photographed upright (portrait picture):
    text is found only once the picture is turned back to landscape."""

    def read_lines(image: Image.Image) -> list[OcrLine]:
        seen.append(image.size)
        if image.width > image.height:
            return [OcrLine("CCC证书编号：2024010201234567", 0.98), OcrLine("型号：PB-2000", 0.97)]
        return []

    return read_lines


def test_a_photo_that_reads_as_nothing_is_read_again_turned_a_quarter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[int, int]] = []
    monkeypatch.setattr(worker, "read_lines", _reads_only_upright_text(seen))
    reading = worker.recognise(_png(300, 800))
    assert reading.best(CCC_NUMBER).value == "2024010201234567"  # type: ignore[union-attr]
    assert reading.best(MODEL).value == "PB-2000"  # type: ignore[union-attr]
    assert seen == [(300, 800), (800, 300)]  # found on the first turn: no third reading


def test_a_photo_that_reads_is_not_turned(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[int, int]] = []
    monkeypatch.setattr(worker, "read_lines", _reads_only_upright_text(seen))
    reading = worker.recognise(_png(800, 300))
    assert reading.best(CCC_NUMBER).value == "2024010201234567"  # type: ignore[union-attr]
    assert seen == [(800, 300)]


def test_no_turned_reading_past_the_time_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[int, int]] = []
    monkeypatch.setattr(worker, "read_lines", _reads_only_upright_text(seen))
    monkeypatch.setattr(worker, "BUDGET", 0.0)
    reading = worker.recognise(_png(300, 800))
    assert reading.fields == () and seen == [(300, 800)]


@pytest.mark.slow
@pytest.mark.databases("sqlite")
async def test_labelled_photos_read_and_checked(db_url: str) -> None:
    engine = make_engine(db_url)
    await importer.import_file(engine, LABELS / "registry.csv", current_year=2026)
    registry = EmbeddedRegistry(engine)
    pool = OcrPool(workers=1, queue=len(PHOTOS), timeout=120)
    try:
        for stem in PHOTOS:
            expected = truth(stem)
            reading = await pool.read((LABELS / f"{stem}.jpg").read_bytes())
            day = date.fromisoformat(str(expected["today"]))
            verdict = await check(reading, registry, today=lambda d=day: d)
            assert verdict.outcome.value == expected["expected"], (stem, reading.text)
            number = expected["cert_no"]
            if number:
                assert reading.best(CCC_NUMBER).value == number, stem  # type: ignore[union-attr]
            if expected["model"]:
                assert reading.best(MODEL).value == expected["model"], stem  # type: ignore[union-attr]
            if expected.get("qr_cert_no"):
                assert [q.cert_no for q in reading.qr] == [expected["qr_cert_no"]]
            elif expected["qr"]:
                assert list(verdict.urls) == expected["qr"]  # shown, not followed
            if expected["layout"] == "sticker":
                assert reading.ccc_mark is Mark.PRESENT, stem
            if expected["layout"] == "listing":
                assert reading.kind is Kind.LISTING
                assert verdict.listing is not None
                assert verdict.listing.verdict.value == expected["expected_listing"]
            if expected["layout"] == "other":
                assert [i.value for i in verdict.identifiers] == expected["identifiers"]
    finally:
        await pool.close()
        await engine.dispose()
