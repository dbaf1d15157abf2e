"""Numbers with a fixed shape: phones, CCC certificates, case numbers, ID cards, order numbers."""

from __future__ import annotations

import re
from collections.abc import Iterator

import phonenumbers
from stdnum.cn import ric

from nlu.spans import Found, digits_only, normalize_digits, squeeze_space

_SEP = r"[ \-]?"
# Digit runs may carry single spaces or dashes ("138 1234 5678"); the lookarounds keep a
# match from being the middle of a longer run.
_NOT_AFTER_DIGIT = r"(?<![0-9])(?<![0-9][ \-])"
_NOT_BEFORE_DIGIT = r"(?![ \-]?[0-9])"

_PHONE = re.compile(
    rf"(?:(?<![0-9])(?:\+|00)?86{_SEP}|{_NOT_AFTER_DIGIT}(?<!\+)(?<!\+ ))(?P<n>1{_SEP}[3-9](?:{_SEP}[0-9]){{9}}){_NOT_BEFORE_DIGIT}"
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
# A number written with its country code (+852 9123 4567, 00886 912 345 678); E.164 allows
# at most 15 digits after the +. The library decides whether it is a real number.
_INTERNATIONAL = re.compile(
    rf"(?<![0-9+])(?:\+|00){_SEP}(?P<n>[1-9](?:{_SEP}[0-9]){{6,14}}){_NOT_BEFORE_DIGIT}"
)
# A local number typed without its code, and the place it belongs to (the phone question
# only): Hong Kong and Macau have 8 digits, Taiwan mobiles 09 and 8 digits.
_LOCAL = re.compile(rf"{_NOT_AFTER_DIGIT}(?P<n>[0-9](?:{_SEP}[0-9]){{7,9}}){_NOT_BEFORE_DIGIT}")
_REGION_WORDS = {
    "HK": ("香港", "hong kong", "hk"),
    "MO": ("澳门", "澳門", "macau", "macao"),
    "TW": ("台湾", "台灣", "taiwan"),
}
_ID_SEPARATORS = re.compile(r"[ \-]")
_MONEY = ("元", "块", "圆", "y", "Y", "r", "R")  # 元, 块, yuan, RMB: a price, not a phone
# A phone word just before a number (no digit between): in a message that says many things,
# a local Hong Kong, Macau or Taiwan number counts only after one of them.
_PHONE_CUE = re.compile(
    r"(?:电话|手机|(?<!单)号码|联系方式|致电|"
    r"\b(?i:phone|mobile|cell|tel|telephone|call\s{1,3}me(?:\s{1,3}(?:on|at))?|whatsapp)\b)"
    r"[^0-9]{0,8}$"
)


def find_phones(text: str) -> Iterator[Found]:
    """Mainland mobile numbers (1[3-9] + 9 digits, with or without +86: 11 digits), any
    other valid number written with its country code (E.164, ``+85291234567``), and a Hong
    Kong, Macau or Taiwan number without its code right after a phone word (电话 9123 4567)."""
    norm = normalize_digits(text)
    taken: list[tuple[int, int]] = []
    for m in _PHONE.finditer(norm):
        number = digits_only(m["n"])
        if _MOBILE.fullmatch(number):
            taken.append((m.start(), m.end()))
            yield Found("phone", m.start(), m.end(), number)
    for m in _INTERNATIONAL.finditer(norm):
        if any(s <= m.start() < e for s, e in taken):
            continue
        e164 = _valid("+" + digits_only(m["n"]), None)
        if e164 is not None and not e164.startswith("+86"):
            taken.append((m.start(), m.end()))
            yield Found("phone", m.start(), m.end(), e164)
    # A bare 8-digit number may be an order, a price or a code: only a phone word before it
    # makes it a Hong Kong, Macau or Taiwan phone (a wrong stored field is worse than asking).
    for m in _LOCAL.finditer(norm):
        if any(s < m.end() and m.start() < e for s, e in taken):
            continue
        before = norm[max(0, m.start() - 24) : m.start()]
        if not _PHONE_CUE.search(before) or norm[m.end() : m.end() + 4].lstrip()[:1] in _MONEY:
            continue
        local = _region_number(digits_only(m["n"]), _regions_named(before))
        if local is not None:
            yield Found("phone", m.start(), m.end(), local)


def _valid(number: str, region: str | None) -> str | None:
    """The number in E.164 when the numbering plan says it exists, else None."""
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def names_a_phone(text: str) -> bool:
    """Whether a short text only names a phone (电话, phone number), with no number in it."""
    return len(text) <= 24 and _PHONE_CUE.match(text.strip()) is not None


def _local_number(text: str) -> str | None:
    """A Hong Kong, Macau or Taiwan number typed without its code, when only one place has
    it (or the text names the place): ``香港 9123 4567`` → ``+85291234567``."""
    named = _regions_named(text)
    for m in _LOCAL.finditer(normalize_digits(text)):
        number = _region_number(digits_only(m["n"]), named)
        if number is not None:
            return number
    return None


def _regions_named(text: str) -> list[str]:
    lowered = text.lower()
    return [r for r, words in _REGION_WORDS.items() if any(w in lowered for w in words)]


def _region_number(digits: str, named: list[str]) -> str | None:
    """``digits`` in E.164 when exactly one of the places (those named, else all) has it."""
    places = {r: n for r in named or _REGION_WORDS if (n := _valid(digits, r)) is not None}
    return next(iter(places.values())) if len(places) == 1 else None


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
    """The first phone number in ``text``: a mainland mobile as 11 digits, any other in
    E.164; a Hong Kong, Macau or Taiwan number without its code when it can only be one."""
    squeezed = squeeze_space(text)
    return _first(find_phones(squeezed)) or _local_number(squeezed)


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


# Identity documents 12315 accepts besides the resident ID card (kind -> shape).
_PERMIT_HKMO = re.compile(r"[HM][0-9]{8}(?:[0-9]{2})?")
_PERMIT_TW = re.compile(r"[0-9]{8}(?:[0-9]{2})?")
_PASSPORT = re.compile(r"[A-Z0-9]{5,17}")
DOCUMENT_KINDS = ("resident_id", "residence_permit", "hkmo_permit", "tw_permit", "passport")


def _residence_permit(number: str) -> bool:
    """港澳台居民居住证: 18 characters like a resident ID, region code 81/82/83."""
    if len(number) != 18 or not number[:17].isdigit() or number[:2] not in {"81", "82", "83"}:
        return False
    try:
        ric.get_birth_date(number)
    except ValueError:
        return False
    return number[-1] == ric.calc_check_digit(number)


def identity_document(text: str) -> tuple[str, str] | None:
    """(kind, number) of the identity document a number belongs to, told by its shape: a
    resident ID or a residence permit (checksum), a permit for Hong Kong and Macao (H/M) or
    Taiwan (8 digits) residents, else a passport (letters and digits)."""
    for kind in DOCUMENT_KINDS:
        number = parse_identity_document(text, kind)
        if number is not None:
            return kind, number
    return None


def parse_identity_document(text: str, kind: str) -> str | None:
    """The number of an identity document of ``kind`` (``DOCUMENT_KINDS``), upper-cased and
    without separators, when its shape (and checksum, where it has one) is right."""
    number = _ID_SEPARATORS.sub("", normalize_digits(text).strip().strip("。.")).upper()
    if kind == "resident_id":
        return parse_id_number(text)
    if kind == "residence_permit":
        return number if _residence_permit(number) else None
    if kind == "hkmo_permit":
        return number if _PERMIT_HKMO.fullmatch(number) else None
    if kind == "tw_permit":
        return number if _PERMIT_TW.fullmatch(number) else None
    if kind == "passport":
        # Not an 18-digit number: that is a resident ID with a wrong check digit.
        ok = _PASSPORT.fullmatch(number) and any(c.isdigit() for c in number)
        return number if ok and not (len(number) == 18 and number[:17].isdigit()) else None
    raise ValueError(f"unknown identity document {kind!r}")
