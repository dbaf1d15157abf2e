"""Money amounts in colloquial Chinese: "399元", "1.2万", "两千五", "八十八块八", "￥1,299.00";
in English with their words: "129 yuan", "paid 399", "RMB 88"."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation

import cn2an

from nlu.spans import Found, normalize_digits, squeeze_space

MAX_AMOUNT = Decimal(10_000_000)
MAX_TOKEN_CHARS = 20  # longer digit runs are identifiers, not prices

_CN_DIGIT = "零〇一二两三四五六七八九壹贰叁肆伍陆柒捌玖"
_CN_UNIT = "十百千万亿拾佰仟"
# One number token: Arabic ("1,299.00"), Chinese or mixed ("1.2万", "1万2", "两千五"). After
# the first digit (or thousands group) one greedy run takes the rest, so a long run of digits
# is read once and never re-split.
_TOKEN = re.compile(
    r"(?:(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9])[0-9万千百亿.]*"
    rf"|[{_CN_DIGIT}{_CN_UNIT}][{_CN_DIGIT}{_CN_UNIT}点]*)"
    rf"(?P<k>[kKwW](?![A-Za-z]))?"
)
_JIAO_DIGIT = "一二两三四五六七八九123456789"
# Currency after the number, with optional 毛/角/分 ("八十八块八", "三块五毛").
_SUFFIX = re.compile(
    r"\s{0,3}(?:[多来余]\s{0,3})?(?:块钱|元钱|块|元|圆|rmb|RMB|人民币|大洋"
    r"|(?i:yuan|rmb|cny|kuai)(?![a-z]))"
    rf"(?:(?P<jiao>[{_JIAO_DIGIT}])(?:毛|角)?(?:(?P<fen>[{_JIAO_DIGIT}])分)?"
    rf"(?![0-9{_CN_DIGIT}{_CN_UNIT}月号日天年个件]))?"
)
# Words that announce a price right before the number (searched at the end of a window).
_PREFIX = re.compile(
    r"(?:花了|花费了?|花|付了|付款|支付了?|价格|价钱|售价|标价|原价|单价|总价|共计|合计|"
    r"一共|总共|共花了?|卖|卖了|金额|货款|价值|[￥¥$]|rmb|RMB|人民币"
    r"|\b(?i:paid|pay|spent|cost|costs|price|priced\s{1,3}at|rmb|cny)"
    r"(?:\s{1,3}(?i:was|is|of|about|around|roughly|only|just))?)"
    r"\s{0,3}(?:(?:是|为|了|大概|大约|差不多|约)\s{0,3})?(?:[:：]\s{0,3})?(?:[￥¥]\s{0,3})?$"
)
_SYMBOL_BEFORE = re.compile(r"[￥¥]\s{0,3}$")
# A number followed by a measure word counts things or time, not money.
_MEASURE = re.compile(
    r"\s{0,3}(?:个|件|次|天|盒|瓶|支|双|台|只|条|箱|号|月|年|日|周|小时|分钟|斤|克|公斤|g|kg|ml|"
    r"岁|人|家|单|倍|位|张|部|套|包|袋|罐|楼|层|星期|礼拜|点|%|％)"
)
_NEGATIVE_BEFORE = re.compile(r"[-负减]\s{0,3}$")
_PLAIN_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def _tidy(value: Decimal) -> Decimal:
    """Round to fen and drop a zero fraction, so 399.00 and 399 compare and print alike."""
    value = value.quantize(Decimal("0.01"))
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


def _token_value(token: str, multiplier: str | None) -> Decimal | None:
    """Decimal value of one number token; cn2an reads the Chinese and mixed forms."""
    clean = token.replace(",", "")
    if _PLAIN_DECIMAL.fullmatch(clean):
        value = Decimal(clean)
    else:
        try:
            value = Decimal(str(cn2an.cn2an(clean, "smart")))
        except (ValueError, KeyError, IndexError, TypeError, InvalidOperation):
            return None
    if multiplier:
        value *= 10_000 if multiplier in "wW" else 1_000
    return value


def _cn_digit(ch: str | None) -> Decimal:
    if not ch:
        return Decimal(0)
    return Decimal(int(ch)) if ch.isdigit() else Decimal(int(cn2an.cn2an(ch, "smart")))


def find_amounts(text: str) -> Iterator[Found]:
    """Yield every number that can be read as money; ``cued`` when 元/花了/￥... back it up.

    Spans cover a currency symbol just before and the unit after ("￥1,299.00", "399元").
    Negative, zero and absurd (> 10,000,000) values are skipped.
    """
    norm = normalize_digits(text)
    taken = 0
    for m in _TOKEN.finditer(norm):
        start, end = m.span()
        if start < taken:
            continue  # inside the 毛/角 tail of the previous amount
        token = norm[start : m.start("k") if m.group("k") else end]
        stripped = token.rstrip(".点")
        if not stripped or len(stripped) > MAX_TOKEN_CHARS:
            continue
        if not m.group("k"):
            end = start + len(stripped)
        before = norm[max(0, start - 12) : start]
        if _NEGATIVE_BEFORE.search(before):
            continue
        value = _token_value(stripped, m.group("k"))
        if value is None:
            continue
        suffix = _SUFFIX.match(norm, end)
        if suffix:
            value += _cn_digit(suffix.group("jiao")) / 10 + _cn_digit(suffix.group("fen")) / 100
            end = suffix.end()
        elif _MEASURE.match(norm, end):
            continue
        if not Decimal(0) < value <= MAX_AMOUNT:
            continue
        symbol = _SYMBOL_BEFORE.search(before)
        if symbol:
            start -= len(before) - symbol.start()
        cued = bool(suffix) or bool(_PREFIX.search(before))
        taken = end
        yield Found("amount", start, end, _tidy(value), cued)


def parse_amount(text: str) -> Decimal | None:
    """The amount a user typed: the first price-cued number, else a bare plausible number.

    A bare Chinese numeral must be at least two characters (or the whole text), so the 一 of
    一下 is not taken for money.
    """
    text = squeeze_space(text)
    bare: Decimal | None = None
    whole = text.strip()
    for found in find_amounts(text):
        if found.cued:
            return found.value
        token = text[found.start : found.end]
        if bare is None and (
            any("0" <= c <= "9" for c in normalize_digits(token))
            or len(token) >= 2
            or token == whole
        ):
            bare = found.value
    return bare
