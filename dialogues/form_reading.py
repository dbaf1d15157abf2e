"""What one message says for every field of a form, not only the one asked.

Each field takes only what *clearly* answers it: a link is a link, a shop name (…店, …公司)
is a merchant and never a brand, a date or an amount is never an address, a phone number is
never a name. A value that cannot be told apart is not stored: the question is asked again.
Any later form gets this by naming its fields' ``shape`` in its flow file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from dialogues.flows import FlowSpec, StepSpec
from dialogues.model import Turn
from nlu import uscc
from nlu.entities import extract
from nlu.fields import (
    find_merchants,
    find_model_numbers,
    find_urls,
    is_claim,
    parse_model_no,
    says_unknown,
)
from nlu.identifiers import parse_order_no
from nlu.types import Entity

# Address words: a place has at least one of them (a date or an amount has none).
_ADDRESS = re.compile(
    r"[省市区县镇乡村路街道巷弄号楼栋座层室]|大厦|广场|商场|中心|小区|花园|"
    r"\b(?:road|rd|street|st|avenue|ave|floor|building|district|city)\b",
    re.IGNORECASE,
)
# Sentence punctuation: a short field (brand, shop, model) is one phrase, not a story.
_CLAUSE = re.compile(r"[，。！？；,!?;]")
# Words around a value that are not part of it.
_FILLER = re.compile(r"[\s,，.。!！?？;；:：、的了是在买花我用就吧呢啊呀]")
_BARE_ORDER = re.compile(r"[0-9A-Za-z\-]{6,32}")
# The amount a flow names "claim" is what is asked for; any other amount was paid.
CLAIM = "claim"
SHORT_SHAPES = frozenset({"brand", "merchant", "product", "order_no", "model_no"})
# Entities that are values of their own: a text holding one is not a name, place or brand.
VALUES = frozenset({"date", "amount", "phone", "order_no", "id_number", "case_id", "url"})
# Values said with their own cue (订单号…, 型号…, a link, a phone number): they may fill a
# field the user skipped before; a brand met in a story may not.
CUED = frozenset({"order_no", "model_no", "url", "phone"})


@dataclass
class Reading:
    """The fields one message answers (slot -> value) and the spans it used."""

    values: dict[str, Any] = field(default_factory=dict)
    spans: list[tuple[int, int]] = field(default_factory=list)
    # Spans of values (dates, amounts, phones, links…), whether a field takes them or not:
    # a text holding one is not an address, a name or a brand.
    value_spans: list[tuple[int, int]] = field(default_factory=list)
    # Which entity gave each value.
    kinds: dict[str, str] = field(default_factory=dict)

    def rest(self, text: str) -> str:
        """The text without the spans of what was understood, and without filler words."""
        kept = bytearray(b"\x01" * len(text))
        for start, end in self.spans:
            kept[start:end] = b"\x00" * (end - start)
        left = "".join(ch for ch, k in zip(text, kept, strict=True) if k)
        return _FILLER.sub("", left)

    def clauses(self, text: str) -> list[str]:
        """The clauses of the text left when what was understood is taken out, words kept
        apart (My name is Lin Mei, phone 0912 345 678 → ["My name is Lin Mei", "phone"])."""
        chars = list(text)
        for start, end in self.spans:
            chars[start:end] = [" "] * (end - start)
        return [c.strip() for c in _CLAUSE.split("".join(chars)) if c.strip()]


def _open_steps(flow: FlowSpec, slots: dict[str, Any]) -> list[StepSpec]:
    """Steps a value may go to: those that apply, or may yet apply, given the answers."""
    return [
        s
        for s in flow.steps
        if all(k not in slots or s.applies({k: slots[k]}) for k in s.when)
        and s.type not in {"photos", "yesno", "multichoice"}
    ]


# Free-text guesses a model may make; only the dictionaries and finders are trusted for them.
# An order number without its cue (订单号…) is a guess too: 工单号 91234567 is a ticket.
GUESSED = frozenset({"brand", "product", "merchant", "person_name", "order_no"})


def _entities(turn: Turn, text: str) -> list[Entity]:
    """What understanding found, plus the shapes only forms need (links, shops, models).

    A model's spans for brands, products, shops and names are left out (a wrong field is
    worse than a question asked again): those come from the lexicon and the finders."""
    rules = extract(text, turn.now)
    parsed = list(turn.parse.entities) if turn.parse is not None else []
    if turn.parse is None or turn.parse.source == "rules":
        found = parsed or list(rules)
    else:
        found = [e for e in parsed if e.entity not in GUESSED]
        found += [e for e in rules if e.entity in GUESSED]
    for finder in (find_urls, find_merchants, find_model_numbers):
        for f in finder(text):
            found.append(Entity(f.entity, f.value, f.start, f.end, text[f.start : f.end]))
    return found


def _inside(entity: Entity, spans: list[tuple[int, int]]) -> bool:
    return any(s <= entity.start and entity.end <= e for s, e in spans)


def _target(entity: Entity, text: str) -> tuple[str, str | None]:
    """(step type, shape) an entity can answer."""
    match entity.entity:
        case "date":
            return "date", None
        case "amount":
            return "amount", CLAIM if is_claim(text, entity.start) else None
        case "phone":
            return "phone", None
        case "person_name":
            return "name", None
        case "id_number":
            return "id_number", None
        case "platform":
            return "choice", "platform"
        case "url":
            return "text", "location"
        case "merchant":
            return "text", "merchant"
        case "brand":
            return "text", "brand"
        case "product":
            return "text", "product"
        case "order_no":
            return "text", "order_no"
        case "model_no":
            return "text", "model_no"
    return "", None


def _fits(step: StepSpec, kind: str, shape: str | None) -> bool:
    if kind == "choice":
        return step.type == "choice" and step.entity == "platform"
    if step.type != kind:
        return False
    if kind == "amount":
        return (step.shape == CLAIM) == (shape == CLAIM)
    if kind == "text":
        return step.shape == shape
    return True


def read(
    flow: FlowSpec, slots: dict[str, Any], turn: Turn, asked: StepSpec | None = None
) -> Reading:
    """Every field of ``flow`` this text clearly answers, whether asked or not (a field
    already answered included: a correction may replace it).

    Asked for a business (``business_id``), a credit code in the answer is part of it, not
    a model or order number: 星河数码 91440305MA0XMPL012 is one merchant answer."""
    text = turn.text
    reading = Reading()
    if turn.kind != "text" or not text.strip():
        return reading
    entities = _entities(turn, text)
    code = uscc.locate(text) if asked is not None and asked.business_id else None
    if code is not None:
        entities = [e for e in entities if not _inside(e, [code])]
    # A shop or a link holds words that are not fields of their own (耐克专卖店 is no brand).
    holders = [(e.start, e.end) for e in entities if e.entity in {"url", "merchant"}]
    steps = _open_steps(flow, slots)
    for entity in sorted(entities, key=lambda e: (e.start, e.entity)):
        if entity.entity in {"brand", "product", "platform", "amount", "date", "phone"} and (
            _inside(entity, holders)
        ):
            continue
        if entity.entity == "merchant" and _inside(
            entity, [(u.start, u.end) for u in entities if u.entity == "url"]
        ):
            continue
        if entity.entity in VALUES:
            reading.value_spans.append((entity.start, entity.end))
        kind, shape = _target(entity, text)
        step = next((s for s in steps if _fits(s, kind, shape)), None)
        if step is None:
            continue
        reading.spans.append((entity.start, entity.end))
        if step.slot not in reading.values:
            reading.values[step.slot] = entity.value
            reading.kinds[step.slot] = entity.entity
    return reading


def free_answer(step: StepSpec, text: str, reading: Reading) -> tuple[bool, Any]:
    """Whether ``text`` answers a free-text step by itself, and the value to keep.

    The whole text is kept when nothing else in it was understood; when other fields were,
    only what is plainly this field's shape counts (an address needs an address word)."""
    text = text.strip()
    understood = any(slot != step.slot for slot in reading.values) or bool(reading.value_spans)
    shape = step.shape
    if shape in SHORT_SHAPES and step.skip_button and says_unknown(text):
        return True, ""
    if shape == "story" or shape is None:
        return True, text
    if shape == "order_no":
        number = parse_order_no(text) or (text if _BARE_ORDER.fullmatch(text) else None)
        return number is not None, number
    if shape == "model_no":
        model = parse_model_no(text)
        return model is not None, model
    if shape == "location":
        if reading.value_spans:
            clauses = [c for c in _CLAUSE.split(text) if _ADDRESS.search(c)]
            place = "，".join(c.strip() for c in clauses if not _has_values(c, reading, text))
            return bool(place), place or None
        return True, text
    # brand, merchant, product: one short phrase, nothing else understood in it, and not
    # plainly a place (北京市朝阳区建国路1号 is no brand).
    if understood or len(text) > 40 or _CLAUSE.search(text.rstrip("。.!！")):
        return False, None
    if len(_ADDRESS.findall(text)) >= 2:
        return False, None
    return True, text


def _has_values(clause: str, reading: Reading, text: str) -> bool:
    """Whether a clause holds an understood value (a date or an amount, not a place)."""
    at = text.find(clause)
    return any(at <= s < at + len(clause) for s, _ in reading.value_spans)


# Words that start a form and say nothing of the case (我要投诉, I want to report).
_STARTER = re.compile(
    r"我要投诉|我想投诉|要投诉|投诉|我要举报|我想举报|要举报|举报|帮我|请问|你好|您好|"
    r"我叫|我的名字是|名字是|姓名|手机号码?|电话号码?|联系电话|联系方式|身份证号?码?|证件号码?|"
    r"i want to (?:complain|report|file a complaint)(?: about)?|complain(?: about)?|report|hello|hi",
    re.IGNORECASE,
)
_CONTENT = re.compile(r"[\u4e00-\u9fff]|[A-Za-z]{2,}")


def is_narrative(text: str, turn: Turn) -> bool:
    """Whether a text tells what happened (kept as the story), beyond starting a form and
    the fields it names: 用了两天就鼓包了 is; 我要投诉 or 在京东花了399买的耳机 is not."""
    if not text or text.startswith("/"):
        return False
    entities = list(turn.parse.entities) if turn.parse is not None else extract(text, turn.now)
    kept = bytearray(b"\x01" * len(text))
    for e in entities:
        kept[e.start : e.end] = b"\x00" * (e.end - e.start)
    for f in (*find_urls(text), *find_merchants(text)):
        kept[f.start : f.end] = b"\x00" * (f.end - f.start)
    code = uscc.locate(text)  # a credit code tells nothing of what happened
    if code is not None:
        kept[code[0] : code[1]] = b"\x00" * (code[1] - code[0])
    left = "".join(ch for ch, k in zip(text, kept, strict=True) if k)
    left = _FILLER.sub("", _STARTER.sub("", left))
    if len(_ADDRESS.findall(text)) >= 2 and not _CLAUSE.search(text):
        return False  # an address, not a story
    return len(_CONTENT.findall(left)) >= 6
