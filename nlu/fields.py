"""Shapes of form answers that are not entities of the intent model: links, shop names, model
numbers, a correction, the language a text is written in.

Each finder reads the text once with bounded patterns (linear time on any message); the
dialogue layer decides which field a shape answers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from nlu.lexicon import platforms
from nlu.spans import Found, normalize_digits

# A link: a scheme or www., or a host under a known top-level domain, then a path.
_URL = re.compile(
    r"(?:https?://|www\.)[^\s，。；！？、<>\"']{1,500}"
    r"|(?<![\w.@-])(?:[a-z0-9-]{1,63}\.){1,6}(?:com|cn|net|org|hk|tw|mo|io|shop|top|vip)"
    r"(?:/[^\s，。；！？、<>\"']{0,500})?(?![\w.-])",
    re.IGNORECASE,
)
# A shop or company name: a run of name characters ending in what names a seller.
_SELLER_SUFFIX = (
    r"(旗舰店|专营店|专卖店|直营店|官方店|自营店|小店|网店|商店|门店|店铺|店|"
    r"有限公司|公司|商行|工作室|经营部|批发部|贸易行|厂|超市|商场)"
)
_MERCHANT = re.compile(rf"[\u4e00-\u9fffA-Za-z0-9·&()（）\- ]{{1,40}}?{_SELLER_SUFFIX}")
# Words before a shop name that are not part of it (在某某店买的, 是某某店): the last such
# word, else the first, else none, whichever leaves a name that is not a generic word.
_LEAD_LAST = re.compile(r"^.{0,16}(?:在|从|是|叫|去|找|的|家|上)(?=.{3})")
_LEAD_FIRST = re.compile(r"^.{0,16}?(?:在|从|是|叫|去|找|的|家|上)(?=.{3})")
# What comes before the suffix in "a shop", not in a shop's name.
_GENERIC = frozenset(
    "实体 这家 那家 一家 这个 那个 他们 他家 她家 官方 网上 线下 线上 网络 品牌 小 旗舰 专卖 "
    "直营 自营 个人 普通 某 一个 楼下 附近 商场 超市 同一 别的 其他 另一家 到 进 开".split()
)
# Model numbers: after a cue, letters, digits and joiners with at least one digit.
_MODEL = re.compile(
    r"(?:型号|规格型号|model(?:\s{0,2}(?:no\.?|number|#))?)\s{0,2}(?:[是为:：#]\s{0,2}){0,2}"
    r"(?P<n>[A-Za-z0-9][A-Za-z0-9\-_/.+]{0,39})",
    re.IGNORECASE,
)
# A correction of an earlier answer: at the start, or "<field> 写错了".
_CORRECTION = re.compile(
    r"^\s{0,3}(?:不对|错了|不是的|说错了|写错了|填错了|更正|纠正|改一下|改成|应该是|"
    r"sorry|correction|actually|no,|wait,)"
    r"|(?:写错了|填错了|说错了|打错了|错了|改成|改为|应该是|should be|is wrong|was wrong)",
    re.IGNORECASE,
)
# A text that only says "I don't know / there is none" (a skippable field).
_UNKNOWN = re.compile(
    r"不知道|不清楚|不记得|忘了|没有品牌|无品牌|没牌子|没有牌子|没有型号|没有订单号|"
    r"don't know|do not know|not sure|no brand|none",
    re.IGNORECASE,
)
# Amounts asked for, not paid: 要求赔偿 500 元, compensation of 500.
_CLAIM_CUE = re.compile(r"(?:赔偿?|索赔|补偿|赔付|compensat\w{0,6}|claim\w{0,2})\D{0,8}$", re.I)
_HAN = re.compile(r"[\u4e00-\u9fff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
_ENGLISH_WORDS = frozenset(
    "i i'm im my me we want to the a an and it is was are this that for of on in about "
    "with from bought buy complain complaint report fake want need help please hello hi "
    "yes no not don't can how what where when who which shop store seller price paid".split()
)


def find_urls(text: str) -> Iterator[Found]:
    """Links, as written (trailing sentence punctuation left out)."""
    norm = normalize_digits(text)
    for m in _URL.finditer(norm):
        raw = m.group().rstrip(".,)）")
        yield Found("url", m.start(), m.start() + len(raw), raw)


def find_merchants(text: str) -> Iterator[Found]:
    """Shop and company names (…旗舰店, …专营店, …有限公司), without the words before them."""
    for m in _MERCHANT.finditer(text):
        raw, suffix = m.group(), m[1] if m.lastindex else ""
        cuts = [lead.end() for lead in (_LEAD_LAST.match(raw), _LEAD_FIRST.match(raw)) if lead]
        stems = [(cut, raw[cut : len(raw) - len(suffix)]) for cut in [*cuts, 0]]
        if any(stem in _GENERIC or stem.startswith(("这", "那")) for _, stem in stems):
            continue  # 实体店, 这家店: a kind of shop, not its name
        cut = next((cut for cut, stem in stems if len(stem) >= 2), None)
        if cut is not None:
            # 淘宝某某旗舰店: the platform is not part of the shop's name.
            platform = next(platforms().find(raw[cut:]), None)
            stem = raw[cut : len(raw) - len(suffix)]
            if platform is not None and platform.start == 0 and len(stem) - platform.end >= 2:
                cut += platform.end
                cut += raw[cut:].startswith(("上的", "的", "上")) and (
                    2 if raw[cut:].startswith("上的") else 1
                )
        if cut is not None:
            name = raw[cut:]
            start = m.start() + cut + len(name) - len(name.lstrip())
            yield Found("merchant", start, m.end(), name.strip())


def find_model_numbers(text: str) -> Iterator[Found]:
    """Model numbers after 型号 / model, kept when they carry a digit."""
    norm = normalize_digits(text)
    for m in _MODEL.finditer(norm):
        value = m["n"].rstrip(".")
        if any(ch.isdigit() for ch in value):
            yield Found("model_no", m.start("n"), m.start("n") + len(value), value.upper())


def parse_model_no(text: str) -> str | None:
    """A model number: after a cue, or the whole short answer when it looks like one."""
    found = next(find_model_numbers(text), None)
    if found is not None:
        return str(found.value)
    bare = normalize_digits(text).strip().strip("。.")
    if 2 <= len(bare) <= 40 and any(c.isdigit() for c in bare) and not _HAN.search(bare):
        if all(c.isalnum() or c in "-_/.+ " for c in bare) and " " not in bare.strip():
            return bare.upper()
    return None


def is_correction(text: str) -> bool:
    """Whether the text corrects an earlier answer (不对，金额是 399 / 电话写错了)."""
    return _CORRECTION.search(text[:200]) is not None


def says_unknown(text: str) -> bool:
    """Whether a short text says the answer is not known or does not exist."""
    return len(text) <= 30 and _UNKNOWN.search(text) is not None


def is_claim(text: str, start: int) -> bool:
    """Whether the amount at ``start`` is one asked for (赔偿 500), not one paid."""
    return _CLAIM_CUE.search(text[max(0, start - 16) : start]) is not None


def detect_language(text: str) -> str | None:
    """``en`` or ``zh`` when the text plainly is one, else None (numbers, links, one word)."""
    sample = text[:500]
    han = len(_HAN.findall(sample))
    words = [w.lower() for w in _LATIN_WORD.findall(_URL.sub(" ", sample))]
    if han >= 2 and han * 2 >= len(words):
        return "zh"
    if han == 0 and len(words) >= 3 and any(w in _ENGLISH_WORDS for w in words):
        return "en"
    return None


_ZH_FUNCTION = frozenset("我你的了是吗不要在有这那么呢吧")


def is_narrative_language(text: str) -> bool:
    """Whether a text is a sentence rather than a short answer (a name, a brand, an
    address): only sentences switch the language of a conversation under way."""
    sample = text[:500]
    if len(_HAN.findall(sample)) >= 6 and not _ZH_FUNCTION.isdisjoint(sample):
        return True
    words = [w.lower() for w in _LATIN_WORD.findall(sample)]
    return len(words) >= 3 and sum(w in _ENGLISH_WORDS for w in words) >= 1
