"""A pasted product listing, told apart from a question or a certificate number, and what the
listing check's verdict offers next (a prefilled report or complaint, a takedown request).

Every pattern here is a bounded repetition or a plain alternation: linear in the message.
"""

from __future__ import annotations

import re
import unicodedata

from dialogues.knowledge_port import ListingCheck, ListingVerdict
from dialogues.reading import Note
from dialogues.state import Checked
from dialogues.texts import t

# Kinds of clue a listing carries; a pasted listing has several, a question one or two.
CUES = {
    "shop": re.compile(r"旗舰店|专营店|专卖店|官方店|企业店|店铺|小店|商家|卖家"),
    "price": re.compile(r"[¥￥]|券后|到手价|价格|原价|促销价"),
    "sales": re.compile(r"月销|已售|销量|付款|包邮|评价|收藏|加入购物车|立即购买"),
    "specs": re.compile(r"型号|品牌|规格|参数|额定|功率|容量|认证|3C|CCC", re.I),
    "platform": re.compile(
        r"https?://|淘宝|天猫|京东|拼多多|抖音|快手|闲鱼|taobao|tmall|jd\.com", re.I
    ),
}
STRONG = re.compile(r"月销|已售|付款人数|旗舰店|专营店|专卖店|宝贝详情|商品详情|加入购物车")
# A consumer telling their own story is a complaint or a question, not a pasted listing.
NARRATIVE = re.compile(r"我|俺|投诉|举报|退款|赔偿|骗|\bI\b|\bmy\b", re.I)
MIN_CHARS = 20

SHOP = re.compile(
    r"(?:店铺|店名|商家|卖家)[:：\s]{0,3}([^\s,，。;；|:：]{2,30})"
    r"|([0-9A-Za-z\u4e00-\u9fff]{1,20}(?:旗舰店|专营店|专卖店|官方店|企业店|小店))"
)
URL = re.compile(r"https?://[^\s，。；]{3,300}")
PLATFORMS = ("天猫", "淘宝", "京东", "拼多多", "抖音", "快手", "小红书", "闲鱼")
SUFFIXES = re.compile(r"(股份)?有限(责任)?公司|co\.?,?\s{0,2}ltd\.?|inc\.?|corp\.?|company", re.I)


def looks_like_listing(text: str) -> bool:
    """Several kinds of listing clue and no first-person story."""
    text = text.strip()
    if len(text) < MIN_CHARS:
        return False
    cues = sum(1 for pattern in CUES.values() if pattern.search(text))
    if NARRATIVE.search(text):
        return False
    return cues >= 3 or (cues >= 2 and STRONG.search(text) is not None)


def normalise(value: str) -> str:
    """For comparing printed and registered names: width, case, spaces, hyphens, suffixes."""
    value = unicodedata.normalize("NFKC", value).lower()
    value = SUFFIXES.sub("", value)
    return "".join(ch for ch in value if ch.isalnum())


def shop_of(text: str) -> str | None:
    found = SHOP.search(text)
    if found is None:
        return None
    return (found.group(1) or found.group(2)).strip()


def url_of(text: str) -> str | None:
    found = URL.search(text)
    return found.group(0) if found else None


def platform_of(text: str) -> str | None:
    return next((p for p in PLATFORMS if p in text), None)


def title_of(text: str) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first[:60]


def model_in(model: str, text: str) -> bool:
    """A registered model (or one of its listed range, split by / 、 ,) is in the text."""
    plain = normalise(text)
    parts = [normalise(p) for p in re.split(r"[/、,，;；]", model)]
    return any(p and p in plain for p in parts)


def listing_notes(check: ListingCheck, text: str) -> list[Note]:
    """Holder and model of each found certificate against the listing's shop and title."""
    notes: list[Note] = []
    shop = shop_of(text)
    for cert_check in check.certificates:
        cert = cert_check.certificate
        if cert is None:
            continue
        number = cert.cert_no
        if cert.model and not model_in(cert.model, text):
            notes.append(Note("listing_model_absent", {"number": number, "model": cert.model}))
        holder = normalise(cert.holder)
        if shop and holder and not _shares_name(holder, normalise(shop)):
            notes.append(Note("listing_holder", {"holder": cert.holder, "shop": shop}))
    return notes


def _shares_name(holder: str, shop: str) -> bool:
    """Whether the shop's name shares two characters in a row with the holder's."""
    return any(shop[i : i + 2] in holder for i in range(len(shop) - 1))


def acts_on(verdict: ListingVerdict, notes: list[Note]) -> bool:
    """A verdict the consumer may act on: the one-tap report and takedown are offered."""
    flagged = verdict in {ListingVerdict.PROBLEM, ListingVerdict.MISSING_CERT}
    return flagged or any(n.code == "listing_model_absent" for n in notes)


def checked_listing(lang: str, check: ListingCheck, text: str, notes: list[Note]) -> Checked:
    """What the next-step buttons carry: the listing, shop and numbers already filled in."""
    shop = shop_of(text)
    url = url_of(text)
    platform = platform_of(text)
    title = title_of(text)
    numbers = "、".join(c.number.normalized for c in check.certificates) or t(lang, "photo.none")
    facts = t(
        lang,
        "photo.facts.listing",
        title=title,
        verdict=t(lang, f"ccc.listing.verdict.{check.verdict.value}"),
        numbers=numbers,
    )
    violation = "no_ccc" if check.verdict is ListingVerdict.MISSING_CERT else "forged_cert"
    report: dict[str, object] = {"target_type": "online_shop", "violation": violation}
    report["facts"] = facts[:2000]
    if shop:
        report["target_name"] = shop
    if url or platform:
        report["target_location"] = (url or platform or "")[:300]
    complaint: dict[str, object] = {"product": title[:100]}
    if platform:
        complaint["platform"] = platform
    if shop:
        complaint["merchant"] = shop
    takedown = t(
        lang,
        "photo.takedown",
        title=title,
        shop=shop or t(lang, "photo.unknown_shop"),
        link=url or t(lang, "photo.no_link"),
        reason=facts,
    )
    return Checked(report=dict(report), complaint=dict(complaint), takedown=takedown)
