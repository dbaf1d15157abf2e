"""Purchase dates as people type them: 2026-10-03, 10月3号, 10.3, 昨天, 上周五, 上个月15号, 3天前,
and in English: yesterday, last Friday, 3 days ago, Nov 3."""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import cn2an
from dateutil.relativedelta import relativedelta

from nlu.spans import Found, normalize_digits, squeeze_space

SHANGHAI = ZoneInfo("Asia/Shanghai")

_N = r"[0-9]{1,2}|[一二三四五六七八九十两]{1,3}"  # month, day or a small count
_YEAR = r"(?P<y>[0-9]{4}|[〇零一二三四五六七八九]{4})"
_DAY_END = r"(?:日|号)"
# Gaps between the parts of a date are short: whitespace runs are squeezed before parsing.
_GAP = r"\s{0,3}"
# "3号线", "5号楼" are places, not dates.
_NOT_PLACE = r"(?!线|楼|门|床|房|柜|窗|店|馆|厅|位|机|仓|库|车厢)"
_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_WEEKDAYS |= {str(i + 1): i for i in range(7)}
_RELATIVE_DAYS = {
    "大前天": 3,
    "前天": 2,
    "昨天": 1,
    "昨日": 1,
    "昨儿": 1,
    "今天": 0,
    "今日": 0,
    "今儿": 0,
    "明天": -1,
    "后天": -2,
}
# 10.3 / 10/3 read as a date inside free text only when a purchase word follows.
_SHORT_DATE_CUE = re.compile(
    r"\s{0,3}(?:号|日|那天|买|下单|购买|收到|到货|发货|签收|付款|拍的|入手)"
)


def _int(token: str) -> int:
    """Integer of an Arabic or Chinese numeral ("15", "十五", "二〇二六")."""
    if token.isascii():
        return int(token)
    return int(cn2an.cn2an(token, "smart"))


def _shift_months(day: date, months: int) -> date:
    """``day`` moved by whole months, clamped to the last day of the target month."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def _recent_month_day(today: date, month: int, day: int) -> date | None:
    """The latest ``month``/``day`` on or before today (29 Feb looks back to a leap year)."""
    for year in range(today.year, today.year - 8, -1):
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue
        if candidate <= today:
            return candidate
    return None


def _recent_day(today: date, day: int) -> date | None:
    """The latest day-of-month ``day`` on or before today ("15号")."""
    for back in range(0, 4):
        first = _shift_months(today.replace(day=1), -back)
        if day <= calendar.monthrange(first.year, first.month)[1]:
            candidate = first.replace(day=day)
            if candidate <= today:
                return candidate
    return None


def _weekday(today: date, prefix: str, name: str) -> date:
    """上周五 is Friday of the previous Monday-based week; a bare 周五 is the latest Friday."""
    target = _WEEKDAYS[name]
    monday = today - timedelta(days=today.weekday())
    if prefix in ("上", "上个"):
        return monday - timedelta(days=7) + timedelta(days=target)
    if prefix in ("上上", "上上个"):
        return monday - timedelta(days=14) + timedelta(days=target)
    if prefix in ("这", "这个", "本"):
        return monday + timedelta(days=target)
    return today - timedelta(days=(today.weekday() - target) % 7)


def _ymd(m: re.Match[str], today: date) -> date | None:
    return date(_int(m["y"]), _int(m["m"]), _int(m["d"]))


def _rel_year_md(m: re.Match[str], today: date) -> date | None:
    offset = {"今年": 0, "去年": 1, "前年": 2}[m["ry"]]
    return date(today.year - offset, _int(m["m"]), _int(m["d"]))


def _md(m: re.Match[str], today: date) -> date | None:
    return _recent_month_day(today, _int(m["m"]), _int(m["d"]))


def _rel_month_day(m: re.Match[str], today: date) -> date | None:
    back = {"上上": 2, "上": 1, "这": 0, "本": 0}[m["rm"]]
    first = _shift_months(today.replace(day=1), -back)
    return first.replace(day=_int(m["d"]))


def _day_only(m: re.Match[str], today: date) -> date | None:
    return _recent_day(today, _int(m["d"]))


def _relative_day(m: re.Match[str], today: date) -> date | None:
    return today - timedelta(days=_RELATIVE_DAYS[m["rd"]])


def _ago(m: re.Match[str], today: date) -> date | None:
    count = 1 if m["n"] == "半" else _int(m["n"])
    unit = m["u"]
    if unit.startswith("天") or unit.startswith("日"):
        return today - timedelta(days=count)
    if unit in ("周", "个星期", "星期", "个礼拜", "礼拜"):
        return today - timedelta(weeks=count)
    if unit == "个月":
        if m["n"] == "半":
            return today - timedelta(days=15)
        return _shift_months(today, -count)
    return _shift_months(today, -12 * count)


def _shopping_festival(m: re.Match[str], today: date) -> date | None:
    month = 11 if m["f"] in ("十一", "11") else 12
    if m["ry"]:
        return date(today.year - (1 if m["ry"] == "去年" else 0), month, month)
    return _recent_month_day(today, month, month)


def _weekday_match(m: re.Match[str], today: date) -> date | None:
    return _weekday(today, m["wp"] or "", m["wd"])


_Resolver = Callable[[re.Match[str], date], date | None]
# (pattern, resolver, needs a cue when found in free text); earlier patterns win overlaps.
_PATTERNS: list[tuple[re.Pattern[str], _Resolver, bool]] = [
    (
        re.compile(rf"{_YEAR}{_GAP}年{_GAP}(?P<m>{_N}){_GAP}月{_GAP}(?P<d>{_N}){_GAP}{_DAY_END}?"),
        _ymd,
        False,
    ),
    (
        re.compile(
            rf"(?<![0-9]){_YEAR}(?P<sep>[-/.])(?P<m>[0-9]{{1,2}})(?P=sep)(?P<d>[0-9]{{1,2}})(?![0-9])"
        ),
        _ymd,
        False,
    ),
    (
        re.compile(
            rf"(?P<ry>今年|去年|前年){_GAP}(?P<m>{_N}){_GAP}月{_GAP}(?P<d>{_N}){_GAP}{_DAY_END}?"
        ),
        _rel_year_md,
        False,
    ),
    (
        re.compile(rf"(?P<rm>上上|上|这|本)个?月{_GAP}(?P<d>{_N}){_GAP}{_DAY_END}"),
        _rel_month_day,
        False,
    ),
    (re.compile(r"(?P<ry>今年|去年)?双(?P<f>十一|十二|11|12)(?![0-9])"), _shopping_festival, False),
    (re.compile(rf"(?<![0-9年])(?P<m>{_N}){_GAP}月{_GAP}(?P<d>{_N}){_GAP}{_DAY_END}?"), _md, False),
    (re.compile(r"(?<![0-9.])(?P<m>[0-9]{1,2})[./](?P<d>[0-9]{1,2})(?![0-9.%])"), _md, True),
    (
        re.compile(
            r"(?P<wp>上上个|上上|上个|上|这个|这|本)?(?:周|星期|礼拜)(?P<wd>[一二三四五六日天1-7])"
        ),
        _weekday_match,
        False,
    ),
    (re.compile("(?P<rd>" + "|".join(_RELATIVE_DAYS) + ")"), _relative_day, False),
    (
        re.compile(
            rf"(?<![0-9])(?P<n>{_N}|半){_GAP}(?P<u>天|日|周|个星期|星期|个礼拜|礼拜|个月|年)(?:之)?前"
        ),
        _ago,
        False,
    ),
    (re.compile(rf"(?<![0-9月年.])(?P<d>{_N}){_GAP}{_DAY_END}{_NOT_PLACE}"), _day_only, True),
]


def today_in_shanghai(now: datetime) -> date:
    """The calendar day in Shanghai at ``now``; a naive ``now`` is taken as Shanghai time."""
    if now.tzinfo is None:
        return now.date()
    return now.astimezone(SHANGHAI).date()


def find_dates(text: str, now: datetime, *, allow_future: bool = False) -> Iterator[Found]:
    """Yield dates (ISO strings) in text order; ``cued`` is False for bare 10.3 or 15号."""
    norm = normalize_digits(text)
    today = today_in_shanghai(now)
    taken = bytearray(len(norm))
    found: list[Found] = []
    for pattern, resolve, needs_cue in _PATTERNS:
        for m in pattern.finditer(norm):
            start, end = m.span()
            if start == end or any(taken[start:end]):
                continue
            try:
                day = resolve(m, today)
            except (ValueError, KeyError, OverflowError):
                continue
            if day is None or day.year < 1900 or (day > today and not allow_future):
                continue
            cued = not needs_cue or bool(_SHORT_DATE_CUE.match(norm, end))
            if needs_cue and norm[end - 1] in "号日":
                cued = cued or _looks_dated(norm, start)
            taken[start:end] = b"\x01" * (end - start)
            found.append(Found("date", start, end, day.isoformat(), cued))
    found.extend(_english_dates(norm, today, taken, allow_future))
    yield from sorted(found, key=lambda f: f.start)


def _looks_dated(norm: str, start: int) -> bool:
    """A bare "15号" is a date when it opens the message or follows 是/在/于."""
    before = norm[max(0, start - 2) : start].strip()
    return not before or before[-1] in "是在于，,。"


_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_EN_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_EN_COUNTS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "a couple of": 2,
}  # fmt: skip
# Nov 3, November 3rd, 3 Nov, 3rd of November (a year may follow). Between the month and
# the day a space or a dot: "MAY20" is a model number, not a date.
_EN_MONTH_DAY = re.compile(
    r"\b(?P<m>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]{0,6}(?:\.\s{0,3}|\s{1,3})"
    r"(?P<d>[0-9]{1,2})(?:st|nd|rd|th)?\b(?:,?\s{1,3}(?P<y>(?:19|20)[0-9]{2})\b)?"
    r"|\b(?P<d2>[0-9]{1,2})(?:st|nd|rd|th)?\s{0,3}(?:of\s{1,3})?"
    r"(?P<m2>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]{0,6}\b"
    r"(?:,?\s{1,3}(?P<y2>(?:19|20)[0-9]{2})\b)?",
    re.IGNORECASE,
)
_EN_RELATIVE = re.compile(
    r"\b(?:(?P<before>the\s{1,3}day\s{1,3}before\s{1,3}yesterday)|(?P<yesterday>yesterday)"
    r"|(?P<today>today|this\s{1,3}morning|earlier\s{1,3}today)"
    r"|(?P<wp>last|this|on)\s{1,3}(?P<wd>mon|tue|wed|thu|fri|sat|sun)[a-z]{0,6}"
    r"|(?P<n>[0-9]{1,3}|an?|one|two|three|four|five|six|seven|eight|nine|ten"
    r"|a\s{1,3}couple\s{1,3}of)\s{1,3}(?P<u>day|week|month|year)s?\s{1,3}ago)\b",
    re.IGNORECASE,
)


def _english_relative(m: re.Match[str], today: date) -> date | None:
    """yesterday, last Friday (Friday of the week before, as 上周五), on Friday (the latest
    one), 3 days ago, two months ago (dateutil's month arithmetic)."""
    if m["before"]:
        return today - timedelta(days=2)
    if m["yesterday"]:
        return today - timedelta(days=1)
    if m["today"]:
        return today
    if m["wd"]:
        prefix = {"last": "上", "this": "这", "on": ""}[m["wp"].lower()]
        return _weekday(today, prefix, "一二三四五六日"[_EN_WEEKDAYS.index(m["wd"].lower())])
    count = _EN_COUNTS.get(" ".join(m["n"].lower().split())) or int(m["n"])
    unit = m["u"].lower()
    if unit == "day":
        return today - timedelta(days=count)
    if unit == "week":
        return today - timedelta(weeks=count)
    months = count if unit == "month" else 12 * count
    return today - relativedelta(months=months)


def _english_month_day(m: re.Match[str], today: date) -> date | None:
    month = _MONTHS.index((m["m"] or m["m2"]).lower()) + 1
    day = int(m["d"] or m["d2"])
    year = m["y"] or m["y2"]
    return date(int(year), month, day) if year else _recent_month_day(today, month, day)


def _english_dates(norm: str, today: date, taken: bytearray, allow_future: bool) -> Iterator[Found]:
    """English dates inside any text (I bought it yesterday; last Friday; 3 days ago; Nov 3),
    with their spans, so a form reads them whatever it asked."""
    for pattern, resolve in (
        (_EN_RELATIVE, _english_relative),
        (_EN_MONTH_DAY, _english_month_day),
    ):
        for m in pattern.finditer(norm):
            start, end = m.span()
            if any(taken[start:end]):
                continue
            try:
                day = resolve(m, today)
            except (ValueError, KeyError, OverflowError):
                continue
            if day is None or day.year < 1900 or (day > today and not allow_future):
                continue
            taken[start:end] = b"\x01" * (end - start)
            yield Found("date", start, end, day.isoformat(), True)


def parse_date(text: str, now: datetime, *, allow_future: bool = False) -> date | None:
    """The first date in ``text`` resolved against ``now``; past-only unless ``allow_future``.

    A date backed by context wins over a bare "3.5" that may well be a price. English answers
    (yesterday, Nov 20, last Friday, 3 days ago) are read too.
    """
    found = list(find_dates(squeeze_space(text), now, allow_future=allow_future))
    best = next((f for f in found if f.cued), found[0] if found else None)
    return date.fromisoformat(best.value) if best else None
