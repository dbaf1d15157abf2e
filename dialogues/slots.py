"""Validating one answer for one step: a value to keep, or the reason to ask again."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from dialogues.flows import FlowSpec, StepSpec, is_word
from dialogues.model import Turn
from dialogues.ports import Normalizer
from dialogues.texts import t
from nlu import uscc
from nlu.identifiers import identity_document, parse_identity_document

_HAN_NAME = re.compile(r"^[\u4e00-\u9fff·•]{2,30}$")
_LATIN_NAME = re.compile(r"^[A-Za-z][A-Za-z .'\-]{1,29}$")
_NAME_CUE = re.compile(r"^(?:我叫|我是|姓名[:：]?|名字[:：]?|my name is)\s*", re.I)


@dataclass(frozen=True)
class Accepted:
    value: Any
    # Other fields the same answer settles (the kind of an identity document).
    also: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Rejected:
    key: str
    values: dict[str, Any] = field(default_factory=dict)


Verdict = Accepted | Rejected


def entity_value(turn: Turn, entity: str | None) -> Any:
    if not entity or turn.parse is None:
        return None
    found = turn.parse.first(entity)
    return found.value if found else None


def _other_entities(turn: Turn, flow: FlowSpec, step: StepSpec) -> bool:
    """Whether the text also carries entities that belong to other steps of the flow."""
    if turn.parse is None:
        return False
    others = {s.entity for s in flow.steps if s.entity and s.slot != step.slot}
    return any(e.entity in others for e in turn.parse.entities)


def validate(
    flow: FlowSpec,
    step: StepSpec,
    turn: Turn,
    normalizer: Normalizer,
    lang: str = "zh",
    slots: dict[str, Any] | None = None,
) -> Verdict:
    """The value ``turn`` gives ``step`` (``slots``: the answers so far, which some steps
    depend on, e.g. the kind of identity document)."""
    slots = slots or {}
    text = (turn.payload or turn.text or "").strip()
    if step.skip_button and turn.payload == "/skip":
        return Accepted("")
    match step.type:
        case "text":
            return _text(flow, step, turn, text)
        case "choice" if step.labelled:
            return _labelled(flow, step, text, lang)
        case "choice":
            return _choice(step, text, normalizer)
        case "id_number":
            # The resident ID's checksum, birth date and region are checked by python-stdnum;
            # other documents 12315 accepts by their shape (nlu.identifiers).
            chosen = slots.get("id_type")
            if chosen:
                number = parse_identity_document(text, str(chosen))
                if number:
                    return Accepted(number)
                return Rejected(
                    "invalid.id_number" if chosen == "resident_id" else "invalid.id_document"
                )
            found = identity_document(text)
            if found is None:
                digits = sum(c.isdigit() for c in text)
                return Rejected("invalid.id_number" if digits >= 15 else "invalid.id_document")
            kind, number = found
            return Accepted(number, {"id_type": kind} if flow.has_step("id_type") else {})
        case "multichoice":
            chosen = choices_in(flow, step, text)
            return Accepted(chosen) if chosen else Rejected("invalid.demand")
        case "date":
            when = normalizer.date(text, turn.now)
            if when is None:
                return Rejected("invalid.date")
            if when > turn.now.date():
                return Rejected("invalid.date_future")
            return Accepted(when.isoformat())
        case "amount":
            amount = normalizer.amount(text)
            if amount is None or amount <= 0:
                return Rejected("invalid.amount")
            return Accepted(int(amount) if amount == amount.to_integral_value() else float(amount))
        case "phone":
            phone = normalizer.phone(text)
            return Accepted(phone) if phone else Rejected("invalid.phone")
        case "name":
            name = entity_value(turn, step.entity) or text
            name = _NAME_CUE.sub("", name)
            if _HAN_NAME.match(name) or _LATIN_NAME.match(name):
                return Accepted(name.strip())
            return Rejected("invalid.name")
        case "secret":
            if not step.min_len <= len(text) <= step.max_len:
                return Rejected("invalid.secret", {"min": step.min_len, "max": step.max_len})
            return Accepted(text)
        case "yesno":
            # 不用了 / 算了 answer a yes/no question; elsewhere they would cancel the form.
            if (
                is_word("no", text)
                or is_word("soft_no", text)
                or (turn.intent == "deny" and turn.confidence >= 0.6)
            ):
                return Accepted(False)
            if is_word("yes", text) or (turn.intent == "affirm" and turn.confidence >= 0.6):
                return Accepted(True)
            return Rejected("invalid.yesno")
    raise ValueError(f"step type {step.type} is not validated here")


def _text(flow: FlowSpec, step: StepSpec, turn: Turn, text: str) -> Verdict:
    if step.skip_button and turn.payload == "/skip":
        return Accepted("")
    found = entity_value(turn, step.entity)
    value = str(found) if found and _other_entities(turn, flow, step) else text
    if len(value) < step.min_len:
        return Rejected("invalid.text_short")
    if len(value) > step.max_len:
        return Rejected("invalid.text_long", {"max": step.max_len})
    if step.business_id:
        code = uscc.find(value)
        if code is not None and not code.ok:
            return Rejected("invalid.uscc", {"code": code.normalized})
    return Accepted(value)


def _choice(step: StepSpec, text: str, normalizer: Normalizer) -> Verdict:
    if text in step.choices:
        return Accepted(text)
    if step.entity == "platform":
        platform = normalizer.platform(text)
        if platform:
            return Accepted(platform)
    if step.allow_other and 1 <= len(text) <= 60:
        return Accepted(text)
    return Rejected("invalid.choice")


def _labelled(flow: FlowSpec, step: StepSpec, text: str, lang: str) -> Verdict:
    """A choice shown with texts: its payload, its label in either language, or a synonym."""
    chosen = choices_in(flow, step, text)
    if not chosen:
        folded = text.lower()
        chosen = [
            c
            for c in step.choices
            for lg in (lang, "zh", "en")
            if t(lg, f"{flow.name}.{step.slot}.{c}").lower() == folded
        ]
    if chosen:
        return Accepted(chosen[0])
    if step.allow_other and "other" in step.choices and 2 <= len(text) <= 60:
        return Accepted(text)
    return Rejected("invalid.choice")


def choices_in(flow: FlowSpec, step: StepSpec, text: str) -> list[str]:
    """Every choice of a multichoice step that ``text`` names (payload or synonyms)."""
    if text.startswith("/choice:") and text.removeprefix("/choice:") in step.choices:
        return [text.removeprefix("/choice:")]
    lowered = text.lower()
    table = flow.synonyms.get(step.slot, {})
    return [c for c in step.choices if any(w.lower() in lowered for w in table.get(c, (c,)))]
