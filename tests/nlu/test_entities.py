"""Entity extraction and normalisation as a user of the rule fallback would see it."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import cn2an
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import ric

from nlu.dates import SHANGHAI
from nlu.entities import (
    extract,
    normalize_digits,
    parse_amount,
    parse_case_id,
    parse_cert_no,
    parse_date,
    parse_id_number,
    parse_order_no,
    parse_phone,
    parse_platform,
)
from nlu.types import ENTITY_TYPES, Entity

# Wednesday 7 October 2026, afternoon in Shanghai.
NOW = datetime(2026, 10, 7, 15, 0, tzinfo=SHANGHAI)
TODAY = NOW.date()
VALID_ID = "11010519491231002X"


def _by_type(entities: list[Entity]) -> dict[str, list[object]]:
    out: dict[str, list[object]] = {}
    for e in entities:
        out.setdefault(e.entity, []).append(e.value)
    return out


def _full_width(s: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in s)


# --- normalize_digits ---------------------------------------------------------------------


def test_normalize_digits_maps_full_width_and_keeps_length() -> None:
    assert normalize_digits("１３８ａＢ：５") == "138aB:5"
    assert len(normalize_digits("订单号：１２３")) == len("订单号：１２３")


def test_normalize_digits_strips_separators_only_between_digits() -> None:
    assert normalize_digits("138 1234-5678", strip_separators=True) == "13812345678"
    assert normalize_digits("１３８－１２３４ ５６７８", strip_separators=True) == "13812345678"
    assert normalize_digits("京东 - 耳机 12", strip_separators=True) == "京东 - 耳机 12"


# --- amounts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("399", "399"),
        ("399元", "399"),
        ("三百五十块", "350"),
        ("1.2万", "12000"),
        ("￥1,299.00", "1299"),
        ("¥ 59.9", "59.9"),
        ("两千五", "2500"),
        ("花了八十八块八", "88.8"),
        ("三块五毛", "3.5"),
        ("十块钱", "10"),
        ("３９９元", "399"),
        ("价格是1299", "1299"),
        ("一共三百", "300"),
        ("3k", "3000"),
        ("1万2", "12000"),
        ("一千多块", "1000"),
        ("2026年10月3日花了399", "399"),
        ("在京东花了399买的耳机", "399"),
    ],
)
def test_parse_amount(text: str, expected: str) -> None:
    assert parse_amount(text) == Decimal(expected)


@pytest.mark.parametrize(
    "text", ["", "-399", "负100元", "0元", "20000000", "1亿元", "花了三天", "三倍赔偿", "没花钱"]
)
def test_parse_amount_rejects(text: str) -> None:
    assert parse_amount(text) is None


@given(st.integers(min_value=1, max_value=10_000_000))
def test_amount_round_trips_through_chinese_and_grouped_digits(n: int) -> None:
    assert parse_amount(cn2an.an2cn(n) + "元") == n
    assert parse_amount(f"{n:,}元") == n
    assert parse_amount(f"花了{n}") == n


@given(st.integers(min_value=1, max_value=999_999), st.integers(min_value=1, max_value=99))
def test_amount_keeps_fen(yuan: int, fen: int) -> None:
    assert parse_amount(f"￥{yuan}.{fen:02d}") == Decimal(f"{yuan}.{fen:02d}")


# --- phones ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "13812345678",
        "+86 138-1234-5678",
        "+8613812345678",
        "008613812345678",
        "电话：１３８１２３４５６７８",
        "我手机138 1234 5678谢谢",
        "联系方式138-1234-5678，随时打",
    ],
)
def test_parse_phone(text: str) -> None:
    assert parse_phone(text) == "13812345678"


@pytest.mark.parametrize(
    "text", ["12812345678", "138123456789", "1381234567", "2016010901123456", "010-12345678"]
)
def test_parse_phone_rejects(text: str) -> None:
    assert parse_phone(text) is None


@given(
    st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    st.sampled_from(["", "+86 ", "+86-", "86", "0086"]),
    st.sampled_from([" ", "-", ""]),
    st.booleans(),
)
def test_phone_round_trip(number: str, prefix: str, sep: str, wide: bool) -> None:
    typed = f"{prefix}{number[:3]}{sep}{number[3:7]}{sep}{number[7:]}"
    typed = _full_width(typed) if wide else typed
    assert parse_phone(f"我的电话是{typed}。") == number


# --- certificates, cases, IDs, orders -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2016010901123456", "2016010901123456"),
        ("证书编号 2016-0109-0112-3456", "2016010901123456"),
        ("帮我查 ２０１６０１０９０１１２３４５６", "2016010901123456"),
        ("3C证书号123456789012", "123456789012"),
    ],
)
def test_parse_cert_no(text: str, expected: str) -> None:
    assert parse_cert_no(text) == expected


@pytest.mark.parametrize(
    "text", ["123456789012", "20160109011234567", "订单号2016010901123456", "13812345678"]
)
def test_parse_cert_no_rejects(text: str) -> None:
    assert parse_cert_no(text) is None


@given(
    st.from_regex(r"20[0-2][0-9]0[1-9][0-9]{10}", fullmatch=True), st.sampled_from(["", " ", "-"])
)
def test_cert_round_trip(cert: str, sep: str) -> None:
    typed = sep.join(cert[i : i + 4] for i in range(0, 16, 4))
    assert parse_cert_no(f"证书：{typed}") == cert


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("TS20261127000042", "TS20261127000042"),
        ("我的单ts20261127000042怎么样", "TS20261127000042"),
        ("JB-20261127000001", "JB20261127000001"),
    ],
)
def test_parse_case_id(text: str, expected: str) -> None:
    assert parse_case_id(text) == expected


@pytest.mark.parametrize("text", ["TS2026112700004", "XTS20261127000042", "AB20261127000042"])
def test_parse_case_id_rejects(text: str) -> None:
    assert parse_case_id(text) is None


def test_parse_id_number_checks_the_checksum() -> None:
    assert parse_id_number("身份证号11010519491231002x") == VALID_ID
    assert parse_id_number("110105 19491231 002X") == VALID_ID
    assert parse_id_number("110105194912310022") is None  # wrong check digit
    assert parse_id_number("11010519491331002X") is None  # no 13th month


@given(st.dates(min_value=date(1940, 1, 1), max_value=date(2008, 12, 31)), st.integers(0, 999))
def test_id_number_round_trip(birth: date, seq: int) -> None:
    body = f"110101{birth:%Y%m%d}{seq:03d}"
    number = body + ric.calc_check_digit(body + "0")
    assert parse_id_number(f"身份证 {number.lower()}") == number


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("订单号：123456789012345678", "123456789012345678"),
        ("订单编号 3012345678901", "3012345678901"),
        ("order no. 1234567890", "1234567890"),
        ("Order #998877665544", "998877665544"),
        ("订单号是２０２６１００３０１２３４５", "20261003012345"),
    ],
)
def test_parse_order_no(text: str, expected: str) -> None:
    assert parse_order_no(text) == expected


@pytest.mark.parametrize("text", ["123456789012345678", "订单号123456789", "订单号" + "1" * 25])
def test_parse_order_no_rejects(text: str) -> None:
    assert parse_order_no(text) is None


# --- platforms ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tb", "淘宝"),
        ("在TB上买的", "淘宝"),
        ("taobao", "淘宝"),
        ("某宝", "淘宝"),
        ("天猫超市", "天猫"),
        ("JD", "京东"),
        ("京东商城", "京东"),
        ("狗东", "京东"),
        ("pdd", "拼多多"),
        ("拼夕夕上买的", "拼多多"),
        ("抖音商城", "抖音"),
        ("抖店", "抖音"),
        ("抖音直播间", "抖音"),
        ("快手小店", "快手"),
        ("小红书", "小红书"),
        ("咸鱼上收的二手", "闲鱼"),
        ("朋友圈", "微信"),
        ("微商卖的", "微信"),
        ("唯品会", "唯品会"),
        ("苏宁", "苏宁易购"),
        ("阿里巴巴", "1688"),
        ("1688", "1688"),
        ("实体店", "线下"),
        ("商场里买的", "线下"),
        ("楼下超市", "线下"),
        ("门店", "线下"),
        ("线下店", "线下"),
    ],
)
def test_parse_platform(text: str, expected: str) -> None:
    assert parse_platform(text) == expected


@pytest.mark.parametrize("text", ["直播间", "在直播间买的", "jdk", "this", "网上"])
def test_parse_platform_rejects(text: str) -> None:
    assert parse_platform(text) is None


# --- dates ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-10-03", date(2026, 10, 3)),
        ("2026/10/03", date(2026, 10, 3)),
        ("2026年10月3日", date(2026, 10, 3)),
        ("二〇二六年十月三日", date(2026, 10, 3)),
        ("10月3号", date(2026, 10, 3)),
        ("十月三号", date(2026, 10, 3)),
        ("10.3", date(2026, 10, 3)),
        ("12月25日", date(2025, 12, 25)),  # no year: the most recent past occurrence
        ("2月29日", date(2024, 2, 29)),
        ("去年11月11号", date(2025, 11, 11)),
        ("双十一", date(2025, 11, 11)),
        ("今天", date(2026, 10, 7)),
        ("昨天", date(2026, 10, 6)),
        ("前天", date(2026, 10, 5)),
        ("大前天", date(2026, 10, 4)),
        ("3天前", date(2026, 10, 4)),
        ("三天前", date(2026, 10, 4)),
        ("一周前", date(2026, 9, 30)),
        ("两个月前", date(2026, 8, 7)),
        ("上周五", date(2026, 10, 2)),
        ("上星期一", date(2026, 9, 28)),
        ("上上周一", date(2026, 9, 21)),
        ("周一", date(2026, 10, 5)),
        ("周三", date(2026, 10, 7)),
        ("上个月15号", date(2026, 9, 15)),
        ("上月1日", date(2026, 9, 1)),
        ("15号买的", date(2026, 9, 15)),
        ("5号买的", date(2026, 10, 5)),
    ],
)
def test_parse_date(text: str, expected: date) -> None:
    assert parse_date(text, NOW) == expected


@pytest.mark.parametrize(
    "text", ["明天", "后天", "2027-01-01", "本周五", "上个月31号", "3号线", "2026-13-01", "随便"]
)
def test_parse_date_rejects_future_and_nonsense(text: str) -> None:
    assert parse_date(text, NOW) is None


def test_parse_date_allows_future_when_asked() -> None:
    assert parse_date("明天", NOW, allow_future=True) == date(2026, 10, 8)
    assert parse_date("本周五", NOW, allow_future=True) == date(2026, 10, 9)


def test_parse_date_uses_shanghai_day_not_utc() -> None:
    # 20:00 UTC on 6 Oct is 04:00 on 7 Oct in Shanghai.
    late_utc = datetime(2026, 10, 6, 20, 0, tzinfo=UTC)
    assert parse_date("昨天", late_utc) == date(2026, 10, 6)
    assert parse_date("上周五", NOW + timedelta(days=4)) == date(2026, 10, 2)  # a Sunday


def test_parse_date_prefers_a_cued_date_over_a_bare_decimal() -> None:
    assert parse_date("花了3.5元，10月1号买的", NOW) == date(2026, 10, 1)


@given(st.dates(min_value=date(1990, 1, 1), max_value=TODAY))
def test_date_round_trip(day: date) -> None:
    assert parse_date(day.isoformat(), NOW) == day
    assert parse_date(f"{day.year}年{day.month}月{day.day}日买的", NOW) == day
    if TODAY - day < timedelta(days=365):
        assert parse_date(f"{day.month}月{day.day}号", NOW) == day


@given(st.integers(min_value=0, max_value=60))
def test_days_ago_round_trip(n: int) -> None:
    assert parse_date(f"{n}天前", NOW) == TODAY - timedelta(days=n)


# --- extract --------------------------------------------------------------------------------


def test_extract_jd_earphones() -> None:
    text = "在京东花了399买的耳机"
    entities = extract(text, NOW)
    assert [(e.entity, e.value, e.start, e.end) for e in entities] == [
        ("platform", "京东", 1, 3),
        ("amount", 399, 5, 8),
        ("product", "耳机", 10, 12),
    ]


def test_extract_last_friday_power_bank() -> None:
    text = "上周五在拼多多买了个充电宝，花了八十九块"
    found = {e.entity: e for e in extract(text, NOW)}
    assert found["date"].value == "2026-10-02"
    assert found["platform"].value == "拼多多"
    assert found["product"].value == "充电宝"
    assert found["amount"].value == 89
    assert text[found["amount"].start : found["amount"].end] == "八十九块"


def test_extract_bare_number_is_not_an_amount() -> None:
    assert extract("399", NOW) == []
    assert _by_type(extract("399元", NOW)) == {"amount": [399]}
    assert _by_type(extract("价格399", NOW)) == {"amount": [399]}


def test_extract_amount_is_json_friendly() -> None:
    values = [e.value for e in extract("花了88.8元，运费12块", NOW)]
    assert values == [88.8, 12]
    assert isinstance(values[0], float) and isinstance(values[1], int)
    json.dumps([e.as_dict() for e in extract("花了88.8元", NOW)])


def test_extract_full_complaint_message_with_offsets_into_the_original() -> None:
    text = (
        "我叫张三，手机１３８ １２３４ ５６７８，10月3号在淘宝买的SK-II神仙水，"
        "￥1,299.00，订单号：1234567890123456"
    )
    entities = extract(text, NOW)
    got = _by_type(entities)
    assert got == {
        "person_name": ["张三"],
        "phone": ["13812345678"],
        "date": ["2026-10-03"],
        "platform": ["淘宝"],
        "brand": ["SK-II", "SK-II"],
        "amount": [1299],
        "order_no": ["1234567890123456"],
    }
    for e in entities:
        assert text[e.start : e.end] == e.text
    phone = next(e for e in entities if e.entity == "phone")
    assert phone.text == "１３８ １２３４ ５６７８"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("买了瓶茅台", {"product": ["白酒"], "brand": ["茅台"]}),
        ("Nike运动鞋", {"brand": ["耐克"], "product": ["运动鞋"]}),
        ("公牛插线板冒烟了", {"brand": ["公牛"], "product": ["插线板"]}),
        ("anker 充电器", {"brand": ["安克"], "product": ["充电器"]}),
        ("AirPods是假的", {"product": ["耳机"], "brand": ["苹果"]}),
        ("买了个包", {"product": ["包"]}),
        ("包邮的", {}),
        ("红包", {}),
        ("手机号13812345678", {"phone": ["13812345678"]}),
        ("在1688上批的货", {"platform": ["1688"]}),
        ("花了1688元", {"amount": [1688]}),
        ("证书编号2016010901123456", {"cert_no": ["2016010901123456"]}),
        ("我的投诉TS20261127000042", {"case_id": ["TS20261127000042"]}),
        ("身份证11010519491231002X", {"id_number": [VALID_ID]}),
        ("10.3买的耳机", {"date": ["2026-10-03"], "product": ["耳机"]}),
        ("版本3.5", {}),
    ],
)
def test_extract_examples(text: str, expected: dict[str, list[object]]) -> None:
    assert _by_type(extract(text, NOW)) == expected


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("我叫李四", "李四"),
        ("我叫张三，电话13812345678", "张三"),
        ("我是王小明想投诉", "王小明"),
        ("姓名：欧阳娜娜", "欧阳娜娜"),
        ("联系人陈大文13812345678", "陈大文"),
    ],
)
def test_extract_person_name_after_cue(text: str, name: str) -> None:
    assert _by_type(extract(text, NOW))["person_name"] == [name]


@pytest.mark.parametrize("text", ["我是在京东买的", "我是消费者", "我是温州的", "张三买的"])
def test_extract_no_person_name_without_cue_or_surname(text: str) -> None:
    assert "person_name" not in _by_type(extract(text, NOW))


@settings(deadline=None, max_examples=200)
@given(st.text(max_size=300))
def test_extract_never_raises_and_spans_are_consistent(text: str) -> None:
    entities = extract(text, NOW)
    for e in entities:
        assert e.entity in ENTITY_TYPES
        assert 0 <= e.start < e.end <= len(text)
        assert text[e.start : e.end] == e.text
        json.dumps(e.as_dict())
    spans = [(e.start, e.end, e.entity) for e in entities]
    for i, (s1, e1, t1) in enumerate(spans):
        for s2, e2, t2 in spans[i + 1 :]:
            if s1 < e2 and s2 < e1:
                assert {t1, t2} == {"product", "brand"}


@settings(deadline=None, max_examples=100)
@given(
    st.lists(
        st.sampled_from(list("京东花了399元买耳机上周五１３８一二三万块号.-证书TS ")), max_size=80
    )
)
def test_extract_never_raises_on_domain_alphabet(chars: list[str]) -> None:
    text = "".join(chars)
    for e in extract(text, NOW):
        assert text[e.start : e.end] == e.text


# --- English dates and amounts inside longer text, local phones after a phone word -------
# NOW is Wednesday 2026-10-07.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I bought it yesterday for 129 yuan on Taobao", {"date": ["2026-10-06"], "amount": [129], "platform": ["淘宝"]}),
        ("last Friday I paid 399 on JD", {"date": ["2026-10-02"], "amount": [399], "platform": ["京东"]}),
        ("got them 3 days ago, it cost about 1,299 CNY", {"date": ["2026-10-04"], "amount": [1299]}),
        ("ordered two weeks ago, RMB 88", {"date": ["2026-09-23"], "amount": [88]}),
        ("bought a couple of months ago", {"date": ["2026-08-07"]}),
        ("delivered on Sep 30, 2026 and the price was 450", {"date": ["2026-09-30"], "amount": [450]}),
        ("on the 3rd of October", {"date": ["2026-10-03"]}),
    ],
)  # fmt: skip
def test_english_dates_and_amounts_anywhere_in_a_message(
    text: str, expected: dict[str, list[object]]
) -> None:
    entities = extract(text, NOW)
    assert _by_type(entities) == expected
    for e in entities:
        assert text[e.start : e.end] == e.text  # spans into the message as typed


@pytest.mark.parametrize(
    "text",
    ["model MAY20, waited 3 days", "I have 2 pairs", "for 3 weeks now", "this Friday"],
)
def test_english_words_that_are_no_date_or_amount(text: str) -> None:
    assert not {"date", "amount"} & set(_by_type(extract(text, NOW)))


@pytest.mark.parametrize(
    ("text", "phone"),
    [
        ("我叫陈大文，电话 9123 4567", "+85291234567"),
        ("联系手机：9123-4567，住在香港", "+85291234567"),
        ("my phone is 0912 345 678", "+886912345678"),
        ("call me on 2812 3456", "+85228123456"),
        ("+852 9123 4567 is my number", "+85291234567"),
        ("tel +853 6612 3456", "+85366123456"),
    ],
)
def test_a_local_hong_kong_macau_or_taiwan_number_after_a_phone_word(text: str, phone: str) -> None:
    assert _by_type(extract(text, NOW)).get("phone") == [phone]


@pytest.mark.parametrize(
    "text",
    [
        "91234567",  # a bare 8-digit number: an order, a code, a price
        "订单号码 91234567",
        "order 91234567, shop 2812 3456",
        "电话 6612 3456",  # a Hong Kong or a Macau mobile: not told apart, so asked
        "手机壳 花了 91234567 元",
        "hotel 91234567",
    ],
)
def test_a_bare_local_number_is_not_a_phone(text: str) -> None:
    assert "phone" not in _by_type(extract(text, NOW))


def test_every_product_and_brand_has_an_english_name() -> None:
    """An English conversation is told what it named in English, never a Chinese canonical
    value: a product or brand added to the lexicon needs its English name too."""
    from nlu.lexicon import english_names, load_yaml

    data = load_yaml("lexicon.yml")
    canonical = set(data["products"]) | set(data["brands"])
    written_in_latin = {name for name in canonical if name.isascii()}  # OPPO, vivo, SK-II
    assert canonical - written_in_latin <= set(english_names()), sorted(
        canonical - written_in_latin - set(english_names())
    )
    assert set(english_names()) <= canonical  # no name for something the lexicon lacks
