"""Turn a Rasa ``/model/parse`` response into a ``Parse`` with normalised entity values.

Rasa finds spans; nlu.entities decides what they mean (350 for 三百五十, 京东 for 狗东, an
ISO date for 昨天). Fixed-shape numbers found by the deterministic extractor win over
Rasa's spans, because a regex with a checksum is more certain than a statistical tagger;
Rasa adds what the rules cannot see (a bare 399 after "多少钱?", a shop or person name).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from nlu.entities import (
    extract,
    json_amount,
    normalize_digits,
    parse_amount,
    parse_case_id,
    parse_cert_no,
    parse_date,
    parse_id_number,
    parse_phone,
    parse_platform,
)
from nlu.types import ENTITY_TYPES, INTENTS, Entity, Parse

FALLBACK_INTENT = "nlu_fallback"
# Types whose rule extraction is exact; on overlap the rule's span and value are kept.
STRUCTURED = frozenset({"case_id", "id_number", "order_no", "cert_no", "phone", "date", "amount"})
_SEPARATORS = re.compile(r"[\s\-－_.·]+")
_ORDER_NO = re.compile(r"[0-9A-Za-z][0-9A-Za-z\-]{5,39}")


def _order_no(span: str) -> str | None:
    value = normalize_digits(span.strip(), strip_separators=True)
    return value if _ORDER_NO.fullmatch(value) else None


def _text(span: str) -> str | None:
    value = span.strip(" \t，,。.:：;；!！?？")
    return value or None


def normalise_value(entity: str, span: str, rasa_value: Any, now: datetime) -> Any:
    """The app's value for one Rasa entity, or None when the span does not hold one."""
    text = str(span)
    if entity == "amount":
        amount = parse_amount(text)
        return None if amount is None or amount <= 0 else json_amount(amount)
    if entity == "date":
        day = parse_date(text, now)
        return day.isoformat() if day else None
    if entity == "phone":
        return parse_phone(text)
    if entity == "cert_no":
        return parse_cert_no(text)
    if entity == "case_id":
        return parse_case_id(_SEPARATORS.sub("", normalize_digits(text)))
    if entity == "id_number":
        return parse_id_number(text)
    if entity == "order_no":
        return _order_no(text)
    if entity == "platform":
        # EntitySynonymMapper may already have canonicalised the value (狗东 -> 京东).
        return parse_platform(str(rasa_value)) or parse_platform(text)
    return _text(text)


def _overlaps(a: Entity, b: Entity) -> bool:
    return a.start < b.end and b.start < a.end


def _repeats(a: Entity, b: Entity) -> bool:
    """Adjacent spans with the same meaning (朋友圈微商 → 微信, 微信) count once."""
    touching = a.start == b.end or b.start == a.end
    return touching and (a.entity, a.value) == (b.entity, b.value)


def rasa_entities(text: str, raw: Iterable[Mapping[str, Any]], now: datetime) -> list[Entity]:
    """Normalised entities from Rasa's list, dropping unknown types and unparsable spans."""
    found: list[Entity] = []
    for item in raw:
        name = item.get("entity")
        start, end = item.get("start"), item.get("end")
        if name not in ENTITY_TYPES or not isinstance(start, int) or not isinstance(end, int):
            continue
        if not 0 <= start < end <= len(text):
            continue
        value = normalise_value(name, text[start:end], item.get("value"), now)
        if value is not None:
            found.append(
                Entity(entity=name, value=value, start=start, end=end, text=text[start:end])
            )
    return found


def merge_entities(rules: Iterable[Entity], rasa: Iterable[Entity]) -> tuple[Entity, ...]:
    """Rule-found structured numbers first, then Rasa's entities (its structured numbers and
    longer spans before the rest, so a model's guess of "amount" inside a case number found by
    Rasa's own regex does not hide it), then the remaining rules."""
    rules = list(rules)
    kept: list[Entity] = [e for e in rules if e.entity in STRUCTURED]
    by_trust = sorted(rasa, key=lambda e: (e.entity not in STRUCTURED, e.start - e.end))
    for group in (by_trust, [e for e in rules if e.entity not in STRUCTURED]):
        for cand in group:
            if not any(_overlaps(cand, k) or _repeats(cand, k) for k in kept):
                kept.append(cand)
    return tuple(sorted(kept, key=lambda e: (e.start, e.end, e.entity)))


def to_parse(
    text: str,
    body: Mapping[str, Any],
    now: datetime,
    *,
    rule_parse: Callable[[], Parse] | None = None,
) -> Parse:
    """A ``Parse`` from Rasa's JSON. ``nlu_fallback`` (low confidence) becomes out_of_scope
    unless the rule parser is sure (a menu number, a bare case number), keeping the
    contract that the app only ever sees the intents of nlu.types."""
    intent_obj = body.get("intent") or {}
    intent = str(intent_obj.get("name") or "out_of_scope")
    confidence = float(intent_obj.get("confidence") or 0.0)
    if intent == FALLBACK_INTENT:
        ranking = body.get("intent_ranking") or []
        top = next((r for r in ranking if r.get("name") != FALLBACK_INTENT), None)
        confidence = float(top.get("confidence") or 0.0) if top else 0.0
        intent = "out_of_scope"
        if rule_parse is not None:
            rules = rule_parse()
            if rules.intent != "out_of_scope" and rules.confidence >= 0.9:
                intent, confidence = rules.intent, rules.confidence
    if intent not in INTENTS:
        intent = "out_of_scope"
    merged = merge_entities(
        extract(text, now), rasa_entities(text, body.get("entities") or [], now)
    )
    return Parse(text=text, intent=intent, confidence=confidence, entities=merged, source="rasa")
