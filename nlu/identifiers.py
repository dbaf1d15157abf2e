"""Numbers with a fixed shape: phones, CCC certificates, case numbers, ID cards, order numbers."""

from __future__ import annotations

import re
from collections.abc import Iterator

from stdnum.cn import ric

from nlu.spans import Found, digits_only, normalize_digits, squeeze_space

_SEP = r"[ \-]?"
# Digit runs may carry single spaces or dashes ("138 1234 5678"); the lookarounds keep a
# match from being the middle of a longer run.
_NOT_AFTER_DIGIT = r"(?<![0-9])(?<![0-9][ \-])"
_NOT_BEFORE_DIGIT = r"(?![ \-]?[0-9])"

_PHONE = re.compile(
    rf"(?:(?<![0-9])(?:\+|00)?86{_SEP}|{_NOT_AFTER_DIGIT})(?P<n>1{_SEP}[3-9](?:{_SEP}[0-9]){{9}}){_NOT_BEFORE_DIGIT}"
)
_CERT16 = re.compile(rf"{_NOT_AFTER_DIGIT}[0-9](?:{_SEP}[0-9]){{15}}{_NOT_BEFORE_DIGIT}")
_CERT12 = re.compile(rf"{_NOT_AFTER_DIGIT}[0-9](?:{_SEP}[0-9]){{11}}{_NOT_BEFORE_DIGIT}")
_CERT_CUE = re.compile(r"(?:证书|证号|3c|ccc|认证)[^0-9]{0,8}$", re.IGNORECASE)
_ORDER_CUE = re.compile(r"(?:订单|单号|order)[^0-9]{0,8}$", re.IGNORECASE)
_CASE_ID = re.compile(r"(?<![A-Za-z0-9])(TS|JB)[ \-]?([0-9]{14})(?![0-9])", re.IGNORECASE)
_ID_NUMBER = re.compile(
    rf"(?<![0-9A-Za-z])[0-9]{{6}}{_SEP}[0-9]{{8}}{_SEP}[0-9]{{3}}[0-9Xx](?![0-9A-Za-z])"
)
# Label, then each optional part (是/为, a colon or #) with its own short gap after it: no
# two gaps touch, so a run of spaces has one way to be read, and a long run none at all.
_ORDER = re.compile(
    r"(?:订单号码?|订单编号|订单|单号|order(?:\s{0,3}(?:no\.?|number|id|#))?)"
    r"\s{0,3}(?:[是为]\s{0,3})?(?:[:#]\s{0,3})?(?P<n>[0-9]{10,24})(?![0-9])",
    re.IGNORECASE,
)
_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_ID_SEPARATORS = re.compile(r"[ \-]")


def find_phones(text: str) -> Iterator[Found]:
    """Mainland mobile numbers (1[3-9] + 9 digits), with or without +86 and separators."""
    norm = normalize_digits(text)
    for m in _PHONE.finditer(norm):
        number = digits_only(m["n"])
        if _MOBILE.fullmatch(number):
            yield Found("phone", m.start(), m.end(), number)


def find_cert_numbers(text: str) -> Iterator[Found]:
    """16-digit CCC certificate numbers; 12-digit legacy ones only after 证书/3C/CCC."""
    norm = normalize_digits(text)
    for m in _CERT16.finditer(norm):
        if _ORDER_CUE.search(norm[max(0, m.start() - 16) : m.start()]):
            continue
        yield Found("cert_no", m.start(), m.end(), digits_only(m.group()))
    for m in _CERT12.finditer(norm):
        if _CERT_CUE.search(norm[max(0, m.start() - 16) : m.start()]):
            yield Found("cert_no", m.start(), m.end(), digits_only(m.group()))


def find_case_ids(text: str) -> Iterator[Found]:
    """Case numbers such as TS20261127000042 (any case, optional separator) in upper case."""
    norm = normalize_digits(text)
    for m in _CASE_ID.finditer(norm):
        yield Found("case_id", m.start(), m.end(), m[1].upper() + m[2])


def find_id_numbers(text: str) -> Iterator[Found]:
    """18-character resident ID numbers whose checksum, birth date and region are valid."""
    norm = normalize_digits(text)
    for m in _ID_NUMBER.finditer(norm):
        number = _ID_SEPARATORS.sub("", m.group()).upper()
        if ric.is_valid(number):
            yield Found("id_number", m.start(), m.end(), number)


def find_order_numbers(text: str) -> Iterator[Found]:
    """10-24 digit order numbers right after 订单号/订单编号/order."""
    norm = normalize_digits(text)
    for m in _ORDER.finditer(norm):
        yield Found("order_no", m.start("n"), m.end("n"), m["n"])


def _first(found: Iterator[Found]) -> str | None:
    return next((str(f.value) for f in found), None)


def parse_phone(text: str) -> str | None:
    """The first mainland mobile number in ``text`` as 11 digits."""
    return _first(find_phones(squeeze_space(text)))


def parse_cert_no(text: str) -> str | None:
    """The first CCC certificate number in ``text`` as bare digits."""
    return _first(find_cert_numbers(squeeze_space(text)))


def parse_case_id(text: str) -> str | None:
    """The first case number in ``text``, upper-cased (``ts2026...`` → ``TS2026...``)."""
    return _first(find_case_ids(squeeze_space(text)))


def parse_id_number(text: str) -> str | None:
    """The first valid resident ID number in ``text``, with a capital X check digit."""
    return _first(find_id_numbers(squeeze_space(text)))


def parse_order_no(text: str) -> str | None:
    """The first order number that follows an 订单号-style label."""
    return _first(find_order_numbers(squeeze_space(text)))
