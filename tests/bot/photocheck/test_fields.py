"""Fields read from recognised lines: what a user sees as "I read model X, number Y"."""

from __future__ import annotations

from bot.photocheck.fields import build_reading, classify_qr
from bot.photocheck.types import (
    CCC_NUMBER,
    COSMETICS_FILING,
    DRUG_APPROVAL,
    HOLDER,
    MANUFACTURER,
    MODEL,
    QR_LINE,
    SC_LICENCE,
    Kind,
    Mark,
    OcrLine,
    QrCode,
    Reading,
)


def lines(*texts: str, confidence: float = 0.99) -> list[OcrLine]:
    return [
        OcrLine(
            t,
            confidence,
            ((10.0, 40.0 * i), (300.0, 40.0 * i), (300.0, 40.0 * i + 30), (10.0, 40.0 * i + 30)),
        )
        for i, t in enumerate(texts)
    ]


def test_nameplate_fields_and_the_mark() -> None:
    reading = build_reading(
        lines(
            "移动电源",
            "CCC",
            "型号：PB-2000",
            "额定容量：10000mAh 3.7V",
            "CCC证书编号：2024010201234567",
            "制造商：深圳市安新电子有限公司",
            "委托人：深圳市安新科技有限公司",
        )
    )
    assert reading.best(CCC_NUMBER).value == "2024010201234567"  # type: ignore[union-attr]
    assert reading.best(MODEL).value == "PB-2000"  # type: ignore[union-attr]
    assert reading.best(MANUFACTURER).value == "深圳市安新电子有限公司"  # type: ignore[union-attr]
    assert reading.best(HOLDER).value == "深圳市安新科技有限公司"  # type: ignore[union-attr]
    assert reading.best(CCC_NUMBER).source_line == 4  # type: ignore[union-attr]
    assert reading.kind is Kind.NAMEPLATE
    assert reading.ccc_mark is Mark.PRESENT


def test_key_and_value_in_separate_boxes_on_one_row() -> None:
    key = OcrLine("规格型号", 0.98, ((10, 10), (120, 10), (120, 40), (10, 40)))
    value = OcrLine("HX-90 Pro", 0.95, ((140, 12), (300, 12), (300, 42), (140, 42)))
    reading = build_reading([key, value])
    field = reading.best(MODEL)
    assert field is not None and field.value == "HX-90 Pro" and field.confidence == 0.95


def test_two_pairs_on_one_line_are_split() -> None:
    reading = build_reading(lines("型号：KD-7  额定功率：1800W"))
    assert reading.best(MODEL).value == "KD-7"  # type: ignore[union-attr]


def test_manufacturer_address_is_not_the_manufacturer() -> None:
    reading = build_reading(lines("生产者地址：深圳市南山区", "Manufacturer: Acme Power Co., Ltd."))
    assert [f.value for f in reading.all(MANUFACTURER)] == ["Acme Power Co., Ltd."]


def test_model_numbers_and_phone_numbers_are_not_certificates() -> None:
    reading = build_reading(lines("型号 20240102", "电话 13800138000", "条码 6901234567892"))
    assert reading.all(CCC_NUMBER) == ()


def test_a_misread_letter_after_the_keyword_is_repaired_but_to_be_confirmed() -> None:
    reading = build_reading(lines("3C证书编号 2024O102 0123 4567"))
    field = reading.best(CCC_NUMBER)
    assert field is not None and field.value == "2024010201234567"
    assert field.confidence < 0.9  # the chat asks "我识别到的编号是…，对吗？"


def test_old_twelve_digit_number_only_after_a_keyword() -> None:
    assert build_reading(lines("CCC证书 200501030003")).best(CCC_NUMBER).value == "200501030003"  # type: ignore[union-attr]
    assert build_reading(lines("订单 200501030003")).all(CCC_NUMBER) == ()


def test_food_drug_and_cosmetics_numbers() -> None:
    reading = build_reading(
        lines(
            "食品生产许可证编号：SC10644011500123",
            "批准文号：国药准字H20051234",
            "国妆特字G20210456",
            "粤G妆网备字2020123456",
            "国妆网备进字（京）2021001234",
        )
    )
    assert [f.value for f in reading.all(SC_LICENCE)] == ["SC10644011500123"]
    assert [f.value for f in reading.all(DRUG_APPROVAL)] == ["国药准字H20051234"]
    assert [f.value for f in reading.all(COSMETICS_FILING)] == [
        "国妆特字G20210456",
        "粤G妆网备字2020123456",
        "国妆网备进字(京)2021001234",
    ]
    assert reading.kind is Kind.PACKAGING


def test_listing_screenshot_is_recognised() -> None:
    reading = build_reading(
        lines("安新旗舰店", "充电宝 20000毫安 快充", "¥89.00 包邮", "月销 2万+")
    )
    assert reading.kind is Kind.LISTING


def test_nothing_read_and_no_mark_claimed_from_little_text() -> None:
    reading = build_reading([])
    assert reading.kind is Kind.NOTHING and reading.ccc_mark is Mark.UNKNOWN
    few = build_reading(lines("型号：A1"))
    assert few.ccc_mark is Mark.UNKNOWN  # too little read to say the mark is absent


def test_label_without_the_mark_says_absent() -> None:
    reading = build_reading(
        lines(
            "电热水壶",
            "型号：KT-17",
            "额定电压：220V~",
            "额定功率：1800W",
            "制造商：佛山某电器有限公司",
        )
    )
    assert reading.ccc_mark is Mark.ABSENT


def test_qr_e_certificate_link_gives_its_number_other_links_stay_text() -> None:
    ecert = classify_qr("QR Code", "https://cx.cnca.cn/CertECloud/verify?certNo=2024010201234567")
    assert ecert.kind == "ccc_ecert" and ecert.cert_no == "2024010201234567"
    shop = classify_qr("QR Code", "https://evil.example/cnca.cn?no=2024010201234567")
    assert shop.kind == "url" and shop.cert_no is None
    ean = classify_qr("EAN-13", "6901234567892")
    assert ean.kind == "text"
    reading = build_reading(lines("扫码验证"), [ecert])
    field = reading.best(CCC_NUMBER)
    assert field is not None and field.source_line == QR_LINE and field.confidence == 1.0


def test_reading_round_trips_through_json_and_confirmation() -> None:
    reading = build_reading(
        lines("CCC证书编号：2024010201234567", "型号：PB-2000", confidence=0.7),
        [QrCode("QR Code", "https://example.com", "url")],
        width=640,
        height=480,
    )
    assert Reading.from_json(reading.to_json()) == reading
    fixed = reading.confirmed(MODEL, "PB-2000S")
    assert fixed.best(MODEL).value == "PB-2000S" and fixed.best(MODEL).confirmed  # type: ignore[union-attr]
    assert fixed.best(CCC_NUMBER) == reading.best(CCC_NUMBER)
