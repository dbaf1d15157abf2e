"""Fields from recognised lines: certificate number, label keys, SC / 国药准字 / cosmetics numbers.

Pure and fast (no OCR import): the worker calls ``build_reading`` on its lines, and tests
call it on typed lines. Every pattern is a single pass without nested repetition, so a line
of any length is parsed in linear time.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.photocheck.types import (
    BRAND,
    BUSINESS_NAME,
    CCC_NUMBER,
    COSMETICS_FILING,
    DRUG_APPROVAL,
    HOLDER,
    MANUFACTURER,
    MODEL,
    QR_LINE,
    REGISTERED_ADDRESS,
    SC_LICENCE,
    USCC,
    Kind,
    Mark,
    OcrLine,
    QrCode,
    ReadField,
    Reading,
)
from integrations.ccc.numbers import find_candidates, normalize
from nlu import uscc
from nlu.datafile import read_yaml

DATA_FILE = Path(__file__).parent / "data" / "identifiers.yml"

# Label keys, longest first so 规格型号 wins over 型号. Matched at the start of a line (after
# bullets), then an optional colon; the rest of the line (or the next line) is the value.
_KEYS: tuple[tuple[str, str], ...] = (
    (MODEL, r"规格型号|产品型号|型号规格|型\s?号|model\s*no\.?|model"),
    (HOLDER, r"认证委托人|证书持有人|委托人|持证人|申请人|applicant|certificate\s*holder|holder"),
    (
        MANUFACTURER,
        r"制造商名称|生产企业名称|制造商|生产企业|生产者|生产商|生产厂家|制造单位|受托生产企业"
        r"|manufacturer|manufactured\s*by|made\s*by",
    ),
    (BRAND, r"品牌|商标|brand|trademark"),
)
_KEY = re.compile(
    r"^[\s•·*\-]{0,3}(?:" + "|".join(f"(?P<{name}>{alt})" for name, alt in _KEYS) + r")"
    r"(?!地址|电话|邮编|编码|代码|日期|许可|名称)\s{0,3}[:：;]?\s{0,3}",
    re.IGNORECASE,
)
# Where a value ends when another "key:" follows on the same line ("型号：X  额定：Y").
_NEXT_KEY = re.compile(r"\s{2,}|\s?[\u4e00-\u9fffA-Za-z]{2,8}[:：]")
# Certificate keywords right before a number make a 12-digit or misread number count.
_CERT_KEY = re.compile(r"(?:3C|CCC|认证|证书)[^0-9]{0,8}$", re.IGNORECASE)
# Letters OCR puts for digits inside a number that should be all digits.
_DIGIT_LOOKALIKES = str.maketrans({"O": "0", "o": "0", "D": "0", "I": "1", "l": "1", "|": "1",
                                   "Z": "2", "S": "5", "B": "8", "G": "6"})  # fmt: skip
_SC = re.compile(r"SC\s?((?:\d\s?){13}\d)(?!\d)", re.IGNORECASE)
_DRUG = re.compile(r"国药准字\s?([A-Za-z])\s?((?:\d\s?){7}\d)(?!\d)")
_COSMETICS = re.compile(
    r"(国妆特进字|国妆特字|国妆网备进字|国妆备进字|[\u4e00-\u9fff]G妆网备字|卫妆准字|卫妆特字)"
    r"\s?(?:[（(][\u4e00-\u9fff][)）])?\s?([A-Za-z]?)\s?((?:\d\s?){5,11}\d)(?!\d)"
)
# A business licence's keys at the start of a line: 名称 and 住所 (spaced out on the licence).
_LICENCE_KEY = re.compile(
    rf"^[\s•·*\-]{{0,3}}(?:(?P<{BUSINESS_NAME}>名\s{{0,4}}称|企业名称)"
    rf"|(?P<{REGISTERED_ADDRESS}>住\s{{0,4}}所|经营场所|营业场所))\s{{0,3}}[:：]?\s{{0,3}}"
)
_MARK = re.compile(r"^[(\[（]?C{3}(?:[)\]）]|[(（][A-Z&]{1,5}[)）]|\s?[A-Z]{1,3})?$")
_LISTING_WORDS = re.compile(
    r"月销|已售|加入购物车|立即购买|店铺|旗舰店|包邮|领券|优惠券|评价|客服|收藏|[¥￥]\s?\d"
)
_NAMEPLATE_WORDS = re.compile(r"额定|输入|输出|input|output|\d\s?[VvWA](?![a-z])|mAh|Wh", re.I)
_PACKAGING_WORDS = re.compile(r"配料|净含量|生产日期|保质期|贮存|执行标准|产品标准|成分|批准文号")


@cache
def identifier_rules(path: Path = DATA_FILE) -> dict[str, Any]:
    """Shapes, where to verify and sources for the non-CCC numbers (``identifiers.yml``)."""
    return dict(read_yaml(path))


def _clean(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def _value_after_key(rest: str) -> str:
    cut = _NEXT_KEY.search(rest, 1) if rest else None
    value = rest[: cut.start()] if cut else rest
    return value.strip(" :：;,，。")


def _same_row(a: OcrLine, b: OcrLine) -> bool:
    """b continues a's row to the right (a key in one box, its value in the next)."""
    if len(a.box) < 4 or len(b.box) < 4:
        return True
    ay = [p[1] for p in a.box]
    by = [p[1] for p in b.box]
    height = max(ay) - min(ay)
    return abs((sum(ay) - sum(by)) / 4) < 0.6 * max(height, 1.0) and min(
        p[0] for p in b.box
    ) >= min(p[0] for p in a.box)


def _label_fields(lines: Sequence[OcrLine]) -> list[ReadField]:
    found: list[ReadField] = []
    for i, line in enumerate(lines):
        text = _clean(line.text)
        m = _KEY.match(text)
        if m is None or m.lastgroup is None:
            continue
        value = _value_after_key(text[m.end() :])
        confidence = line.confidence
        source = i
        if not value and i + 1 < len(lines) and _same_row(line, lines[i + 1]):
            nxt = lines[i + 1]
            value = _value_after_key(_clean(nxt.text))
            confidence = min(confidence, nxt.confidence)
            source = i + 1
        if value and not _KEY.match(value):
            found.append(ReadField(m.lastgroup, value, round(confidence, 3), source))
    return found


def _digits(raw: str) -> str:
    return re.sub(r"\s", "", raw)


def _cert_numbers(lines: Sequence[OcrLine]) -> list[ReadField]:
    """16-digit numbers of a certificate's shape anywhere; 12-digit or letter-spoilt ones only
    after a certificate keyword, repaired (O→0, I→1 …) and with a lowered confidence."""
    found: list[ReadField] = []
    seen: set[str] = set()
    for i, line in enumerate(lines):
        text = _clean(line.text)
        for found_chunk, found_start, _end in find_candidates(text):
            # "CCC 2024…" is one candidate run: its letters are the keyword, not the number.
            first_digit = next(i for i, ch in enumerate(found_chunk) if ch.isdigit())
            chunk, start = found_chunk[first_digit:], found_start + first_digit
            value = normalize(chunk)
            keyword = bool(_CERT_KEY.search(text[max(0, start - 16) : start]))
            confidence = line.confidence
            if not value.isdigit():
                if not keyword:
                    continue
                repaired = value.translate(_DIGIT_LOOKALIKES)
                if not repaired.isdigit():
                    continue
                value, confidence = repaired, confidence * 0.8
            shaped = len(value) == 16 and value.startswith("20")
            if not (shaped or (keyword and len(value) in (12, 16))):
                continue
            if value not in seen:
                seen.add(value)
                found.append(ReadField(CCC_NUMBER, value, round(confidence, 3), i))
    return found


def _other_ids(lines: Sequence[OcrLine]) -> list[ReadField]:
    found: list[ReadField] = []
    for i, line in enumerate(lines):
        text = _clean(line.text)
        conf = round(line.confidence, 3)
        for m in _SC.finditer(text):
            found.append(ReadField(SC_LICENCE, "SC" + _digits(m.group(1)), conf, i))
        for m in _DRUG.finditer(text):
            value = "国药准字" + m.group(1).upper() + _digits(m.group(2))
            found.append(ReadField(DRUG_APPROVAL, value, conf, i))
        for m in _COSMETICS.finditer(text):
            head = re.sub(r"\s", "", text[m.start(1) : m.start(3)])
            value = head + _digits(m.group(3))
            found.append(ReadField(COSMETICS_FILING, value, conf, i))
    return found


def _licence_fields(lines: Sequence[OcrLine]) -> list[ReadField]:
    """A licence's credit code (only with a check digit that adds up, which also corrects
    for misreads: a misread code fails it), and, on a licence, its name and address."""
    codes = []
    for i, line in enumerate(lines):
        found = uscc.find(_clean(line.text))
        if found is not None and found.ok:
            codes.append(ReadField(USCC, found.normalized, round(line.confidence, 3), i))
    text = "".join(_clean(line.text) for line in lines)
    if not codes and "营业执照" not in re.sub(r"\s", "", text):
        return codes
    found_keys: list[ReadField] = []
    for i, line in enumerate(lines):
        cleaned = _clean(line.text)
        if cleaned in ("名", "住") and i + 1 < len(lines):
            # The licence spaces its keys out: the reader may see 名 and 称… as two lines.
            line = OcrLine(
                cleaned + _clean(lines[i + 1].text), min(line.confidence, lines[i + 1].confidence)
            )
            cleaned = line.text
        m = _LICENCE_KEY.match(cleaned)
        if m is None or m.lastgroup is None:
            continue
        value, confidence, source = cleaned[m.end() :].strip(" :："), line.confidence, i
        if not value and i + 1 < len(lines) and _same_row(line, lines[i + 1]):
            value = _clean(lines[i + 1].text).strip(" :：")
            confidence, source = min(confidence, lines[i + 1].confidence), i + 1
        if len(value) >= 2:
            found_keys.append(ReadField(m.lastgroup, value, round(confidence, 3), source))
    return codes + found_keys


def ccc_mark(lines: Sequence[OcrLine], kind: Kind) -> Mark:
    """PRESENT when a line reads as the mark alone ("CCC", "CCC(S)"); ABSENT only when enough
    of a label was read that the mark would likely have been read too."""
    for line in lines:
        if _MARK.match(_clean(line.text).upper().replace(" ", "")):
            return Mark.PRESENT
    if kind in (Kind.NAMEPLATE, Kind.CCC_LABEL, Kind.PACKAGING) and len(lines) >= 4:
        return Mark.ABSENT
    return Mark.UNKNOWN


def guess_kind(lines: Sequence[OcrLine], fields: Sequence[ReadField], qr: Sequence[QrCode]) -> Kind:
    text = "\n".join(_clean(line.text) for line in lines)
    useful = [line for line in lines if line.confidence >= 0.6 and len(line.text.strip()) >= 2]
    if not useful and not qr:
        return Kind.NOTHING
    names = {f.name for f in fields}
    if USCC in names and "营业执照" in re.sub(r"\s", "", text):
        return Kind.LICENCE
    if len(_LISTING_WORDS.findall(text)) >= 2:
        return Kind.LISTING
    if names & {SC_LICENCE, DRUG_APPROVAL, COSMETICS_FILING} or _PACKAGING_WORDS.search(text):
        return Kind.PACKAGING
    if len(_NAMEPLATE_WORDS.findall(text)) >= 2:
        return Kind.NAMEPLATE
    if CCC_NUMBER in names or any(q.cert_no for q in qr):
        return Kind.CCC_LABEL
    if names or len(useful) >= 3:
        return Kind.PACKAGING
    return Kind.NOTHING


def classify_qr(fmt: str, payload: str) -> QrCode:
    """An e-certificate link yields its number; other URLs stay text (never fetched)."""
    text = payload.strip()
    rules = identifier_rules()["ccc_ecert"]
    numbers = [normalize(c) for c, _s, _e in find_candidates(text)]
    numbers = [n for n in numbers if n.isdigit() and len(n) == 16 and n.startswith("20")]
    if text.lower().startswith(("http://", "https://")):
        host = (urlsplit(text).hostname or "").lower()
        official = any(host == h or host.endswith("." + h) for h in rules["hosts"])
        if official and numbers:
            return QrCode(fmt, text, "ccc_ecert", numbers[0])
        return QrCode(fmt, text, "url")
    if numbers and _CERT_KEY.search(text[: text.find(numbers[0][:4]) + 1] or ""):
        return QrCode(fmt, text, "ccc_ecert", numbers[0])
    return QrCode(fmt, text, "text")


def build_reading(
    lines: Sequence[OcrLine],
    qr: Sequence[QrCode] = (),
    *,
    width: int = 0,
    height: int = 0,
    seconds: float = 0.0,
) -> Reading:
    """Fields, kind and mark from what the recogniser returned."""
    fields = [
        *_cert_numbers(lines),
        *_label_fields(lines),
        *_other_ids(lines),
        *_licence_fields(lines),
    ]
    known = {f.value for f in fields if f.name == CCC_NUMBER}
    for code in qr:
        if code.cert_no and code.cert_no not in known:
            known.add(code.cert_no)
            fields.append(ReadField(CCC_NUMBER, code.cert_no, 1.0, QR_LINE))
    kind = guess_kind(lines, fields, qr)
    return Reading(
        lines=tuple(lines),
        fields=tuple(fields),
        qr=tuple(qr),
        kind=kind,
        ccc_mark=ccc_mark(lines, kind),
        width=width,
        height=height,
        seconds=seconds,
    )
