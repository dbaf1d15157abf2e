"""Safety-alert subscriptions in chat: subscribe, list, unsubscribe (zh and en).

"订阅充电宝的安全提醒" / "subscribe to power bank alerts" subscribes to a category, "订阅广东的
预警" to a region, anything else named ("订阅小米的提醒", "subscribe to brand Anker") to a
brand. "我的订阅" / "my subscriptions" lists them, numbered; "退订" / "unsubscribe" drops them
all, "退订 2" the second. The engine only decides: the pipeline applies ``Subscribe``,
``Unsubscribe`` and ``ListSubscriptions`` (``bot/alerts.py``) and ``then`` renders the receipt.
Every scan of the text is a bounded number of linear passes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from dialogues.actions import (
    ConsentToAlerts,
    ListSubscriptions,
    Pending,
    Subscribe,
    Subscriptions,
    Topic,
    Unsubscribe,
)
from dialogues.model import Button, Reply, Turn
from dialogues.state import ConversationState
from dialogues.texts import t
from nlu.datafile import read_yaml

DATA = Path(__file__).with_suffix(".yml")
# A sender keeps at most this many; a brand name at most this long.
MAX_SUBSCRIPTIONS = 20
MAX_VALUE = 30
KINDS = ("category", "brand", "region")
SUB_PAYLOAD = "/sub:"
CONSENT_PAYLOAD = "/alerts_consent:"
UNSUB_PAYLOAD = "/unsub:"

_LIST = frozenset(
    {
        "我的订阅",
        "查看订阅",
        "订阅列表",
        "我订阅了什么",
        "my subscriptions",
        "subscriptions",
        "list subscriptions",
        "show subscriptions",
        "/subscriptions",
    }
)
# Consent to alerts as WeChat subscription messages once the 48-hour window has closed.
_CONSENT = {
    "同意接收订阅消息": True,
    "同意订阅消息": True,
    "接收订阅消息": True,
    "allow subscription messages": True,
    "agree to subscription messages": True,
    "不接收订阅消息": False,
    "不要订阅消息": False,
    "停止订阅消息": False,
    "stop subscription messages": False,
    "no subscription messages": False,
}
_UNSUB = ("取消订阅", "退订", "unsubscribe from", "unsubscribe")
_SUB = (
    "请帮我订阅",
    "帮我订阅",
    "我要订阅",
    "我想订阅",
    "订阅",
    "i want to subscribe to",
    "subscribe me to",
    "subscribe to",
    "subscribe",
)
_SUFFIXES = (
    "的安全提醒",
    "的安全预警",
    "的消费预警",
    "的预警信息",
    "的预警",
    "的提醒",
    "的警示",
    "的消息",
    "安全提醒",
    "安全预警",
    "消费预警",
    "预警",
    "提醒",
    "警示",
    "消息",
    " safety alerts",
    " safety warnings",
    " recall alerts",
    " alerts",
    " warnings",
    " alert",
    " news",
    " recalls",
)
_TRIM = " \t\r\n。！!.,，?？:：\"'“”"
_ALL = frozenset({"全部", "所有", "全部退订", "all", "everything"})


@dataclass(frozen=True)
class Catalogue:
    labels: dict[str, dict[str, str]]  # category → {zh, en}
    words: tuple[tuple[str, str], ...]  # (word, category), longest first
    regions: dict[str, str]  # any spelling, casefolded → the zh short name
    region_en: dict[str, str]  # zh short name → English

    def regions_zh(self) -> list[str]:
        return list(self.region_en)


@cache
def catalogue() -> Catalogue:
    data = read_yaml(DATA)
    labels = {k: {"zh": v["zh"], "en": v["en"]} for k, v in data["categories"].items()}
    words = [(str(w).casefold(), k) for k, v in data["categories"].items() for w in v["words"]]
    words.sort(key=lambda pair: -len(pair[0]))
    regions: dict[str, str] = {}
    for zh, en in data["regions"].items():
        regions[zh] = zh
        regions[str(en).casefold()] = zh
    return Catalogue(labels, tuple(words), regions, dict(data["regions"]))


def topic_of(subject: str) -> Topic | None:
    """The topic a subscriber named: a category by its words, a region, else a brand."""
    subject = subject.strip(_TRIM)
    kind = None
    for prefix, forced in (
        ("品牌", "brand"),
        ("brand ", "brand"),
        ("地区", "region"),
        ("region ", "region"),
        ("类别", "category"),
        ("category ", "category"),
    ):
        if subject.casefold().startswith(prefix):
            subject, kind = subject[len(prefix) :].strip(_TRIM), forced
            break
    if not subject or len(subject) > MAX_VALUE:
        return None
    cat = catalogue()
    folded = subject.casefold()
    if kind in (None, "region"):
        name = folded.removesuffix("省").removesuffix("市").removesuffix(" province")
        if name in cat.regions:
            return Topic("region", cat.regions[name])
        if kind == "region":
            return None
    if kind in (None, "category"):
        for word, category in cat.words:
            if word in folded:
                return Topic("category", category)
        if kind == "category":
            return None
    return Topic("brand", subject)


def label(topic: Topic, lang: str) -> str:
    if topic.kind == "certificate":  # a watched certificate (dialogues/watch.py)
        return t(lang, "watch.topic", number=topic.value)
    cat = catalogue()
    if topic.kind == "category":
        name = cat.labels.get(topic.value, {}).get(lang, topic.value)
    elif topic.kind == "region" and lang == "en":
        name = cat.region_en.get(topic.value, topic.value).title()
    else:
        name = topic.value
    return t(lang, f"alerts.kind.{topic.kind}", name=name)


def _strip_prefix(text: str, prefixes: tuple[str, ...]) -> str | None:
    folded = text.casefold()
    for prefix in prefixes:
        if folded.startswith(prefix):
            return text[len(prefix) :]
    return None


def route(state: ConversationState, turn: Turn, text: str) -> list[Reply] | None:
    """The replies to a subscription request, or None when the text is not one."""
    if turn.kind not in {"text", "button"} or len(text) > 200:
        return None
    lang = turn.lang
    if text.startswith(SUB_PAYLOAD):
        kind, _, value = text.removeprefix(SUB_PAYLOAD).partition(":")
        if kind not in KINDS or not value or len(value) > MAX_VALUE:
            return None
        return subscribe(Topic(kind, value), lang)
    if text.startswith(UNSUB_PAYLOAD):
        which = text.removeprefix(UNSUB_PAYLOAD)
        return unsubscribe(int(which) if which.isdecimal() and len(which) <= 3 else None, lang)
    if text.startswith(CONSENT_PAYLOAD):
        answer = text.removeprefix(CONSENT_PAYLOAD)
        return consent(answer == "yes", lang) if answer in ("yes", "no") else None
    folded = text.strip(_TRIM).casefold()
    if folded in _CONSENT:
        return consent(_CONSENT[folded], lang)
    if folded in _LIST:
        return [Pending(ListSubscriptions(), lambda r, s: listing(r, lang))]
    rest = _strip_prefix(folded, _UNSUB)
    if rest is not None:
        rest = rest.strip(_TRIM)
        if not rest or rest in _ALL:
            return unsubscribe(None, lang)
        if rest.isdecimal() and len(rest) <= 3:
            return unsubscribe(int(rest), lang)
        return [Reply(t(lang, "alerts.unsubscribe_how"))]
    rest = _strip_prefix(text.strip(_TRIM), _SUB)
    if rest is None:
        return None
    subject = rest.strip(_TRIM)
    for suffix in _SUFFIXES:
        if subject.casefold().endswith(suffix):
            subject = subject[: len(subject) - len(suffix)]
            break
    subject = subject.strip(_TRIM)
    for article in ("the ", "brand's ", "一下"):
        subject = subject.removeprefix(article)
    if not subject:
        return [Reply(t(lang, "alerts.subscribe_how"))]
    topic = topic_of(subject)
    if topic is None:
        return [Reply(t(lang, "alerts.subscribe_how"))]
    return subscribe(topic, lang)


def subscribe(topic: Topic, lang: str) -> list[Reply]:
    def then(receipt: Subscriptions, state: ConversationState) -> list[Reply]:
        name = label(topic, lang)
        if receipt.changed:
            done = [Reply(t(lang, "alerts.subscribed", topic=name), _buttons(lang))]
            if receipt.consent is False:
                done.append(ask_consent(lang))
            return done
        if topic in receipt.current:
            return [Reply(t(lang, "alerts.already", topic=name), _buttons(lang))]
        return [Reply(t(lang, "alerts.too_many", max=MAX_SUBSCRIPTIONS))]

    return [Pending(Subscribe(topic, lang), then)]


def ask_consent(lang: str) -> Reply:
    buttons = [
        Button(t(lang, "alerts.button.consent_yes"), f"{CONSENT_PAYLOAD}yes"),
        Button(t(lang, "alerts.button.consent_no"), f"{CONSENT_PAYLOAD}no"),
    ]
    return Reply(t(lang, "alerts.consent_ask"), buttons)


def consent(agree: bool, lang: str) -> list[Reply]:
    """Agree to (or stop) alerts as subscription messages outside the 48-hour window."""

    def then(receipt: Subscriptions, state: ConversationState) -> list[Reply]:
        if receipt.consent is None:
            return [Reply(t(lang, "alerts.consent_not_needed"))]
        return [Reply(t(lang, "alerts.consent_given" if agree else "alerts.consent_withdrawn"))]

    return [Pending(ConsentToAlerts(agree), then)]


def unsubscribe(which: int | None, lang: str) -> list[Reply]:
    def then(receipt: Subscriptions, state: ConversationState) -> list[Reply]:
        if receipt.changed:
            names = (
                "、".join(label(x, lang) for x in receipt.changed)
                if lang == "zh"
                else (", ".join(label(x, lang) for x in receipt.changed))
            )
            return [Reply(t(lang, "alerts.unsubscribed", topics=names))]
        if which is not None and receipt.current:
            return [Reply(t(lang, "alerts.no_such_number", number=which)), *listing(receipt, lang)]
        return [Reply(t(lang, "alerts.none"))]

    return [Pending(Unsubscribe(which), then)]


def listing(receipt: Subscriptions, lang: str) -> list[Reply]:
    if not receipt.current:
        return [Reply(t(lang, "alerts.none"))]
    lines = [t(lang, "alerts.list_head")]
    lines += [f"{n}. {label(x, lang)}" for n, x in enumerate(receipt.current, start=1)]
    lines.append(t(lang, "alerts.list_foot"))
    buttons = [Button(t(lang, "alerts.button.unsubscribe_all"), f"{UNSUB_PAYLOAD}all")]
    return [Reply("\n".join(lines), buttons)]


def _buttons(lang: str) -> list[Button]:
    return [Button(t(lang, "alerts.button.mine"), "/subscriptions")]


def offer(category: str | None, lang: str) -> Button | None:
    """A button that subscribes to a category's alerts (after an answer about it)."""
    if category is None or category not in catalogue().labels:
        return None
    return Button(t(lang, "alerts.button.subscribe"), f"{SUB_PAYLOAD}category:{category}")
