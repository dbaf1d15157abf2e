"""Flow definitions loaded from ``dialogues/flows/*.yml`` into typed specs."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from nlu.datafile import read_yaml

FLOWS_DIR = Path(__file__).parent / "flows"
STEP_TYPES = {
    "text",
    "choice",
    "multichoice",
    "date",
    "amount",
    "phone",
    "name",
    "yesno",
    "photos",
    "id_number",
    # A password the user sets (举报密码): hashed as it is answered, never stored or shown.
    "secret",
}


@dataclass(frozen=True)
class StepSpec:
    slot: str
    type: str
    label: str
    entity: str | None = None
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    allow_other: bool = False
    optional: bool = False
    personal: bool = False
    min_len: int = 1
    max_len: int = 500
    max: int = 9
    skip_button: str | None = None
    # Asked only when every named slot already holds the given value (e.g. identity: real_name),
    # or one of the values when a list is given.
    when: dict[str, Any] = field(default_factory=dict)
    # Choices shown with texts ``<flow>.<slot>.<choice>`` and sent back as ``/choice:<c>``.
    labelled: bool = False
    # A named explanation shown before the question (rendered by the engine from data).
    explain: str | None = None
    # What a text answer looks like (dialogues/reading.py): product, brand, merchant,
    # location, story, order_no, model_no; ``claim`` for an amount asked for, not paid.
    shape: str | None = None
    # The answer may carry the seller's credit code (统一社会信用代码): a code that does not
    # add up (length, check digit) is asked again; the case's respondent is built from it.
    business_id: bool = False

    def applies(self, slots: dict[str, Any]) -> bool:
        """``when`` holds: each named slot has the value (or, for a list, contains it; or,
        when a list of values is wanted, holds one of them)."""
        return all(_holds(v, slots.get(k)) for k, v in self.when.items())


def _holds(wanted: Any, got: Any) -> bool:
    if isinstance(got, list):
        return wanted in got
    if isinstance(wanted, list):
        return got in wanted
    return bool(got == wanted)


@dataclass(frozen=True)
class Note:
    """An extra line in the submission reply when ``when`` holds (slot values or receipt flags)."""

    text: str
    when: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Offer:
    """After submitting, offer to start ``flow`` linked to the new case, carrying slots over."""

    flow: str
    text: str
    button: str
    when: dict[str, Any] = field(default_factory=dict)
    carry: dict[str, str] = field(default_factory=dict)  # new flow's slot -> this flow's slot


@dataclass(frozen=True)
class FlowSpec:
    name: str
    title: str
    case_kind: str | None
    intro: str | None
    steps: tuple[StepSpec, ...]
    start_intents: tuple[str, ...] = ()
    start_payloads: tuple[str, ...] = ()
    synonyms: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    notes: tuple[Note, ...] = ()
    offers: tuple[Offer, ...] = ()
    # The slot that keeps the user's own story (the first message, later narrative).
    story: str | None = None

    def step(self, slot: str) -> StepSpec:
        return next(s for s in self.steps if s.slot == slot)

    def has_step(self, slot: str) -> bool:
        return any(s.slot == slot for s in self.steps)


@dataclass(frozen=True)
class MenuItem:
    key: str
    number: int
    title: str
    payload: str
    flow: str


def _step(data: dict[str, Any]) -> StepSpec:
    if data["type"] not in STEP_TYPES:
        raise ValueError(f"unknown step type {data['type']!r} for slot {data['slot']!r}")
    data = dict(data)
    data["when"] = dict(data.get("when") or {})
    for key in ("aliases", "choices"):
        data[key] = tuple(str(v) for v in data.get(key, ()))
    return StepSpec(**data)


def load_flow(path: Path) -> FlowSpec:
    data = read_yaml(path)
    synonyms = {
        slot: {choice: tuple(str(w) for w in words) for choice, words in table.items()}
        for slot, table in (data.get("synonyms") or {}).items()
    }
    return FlowSpec(
        name=data["name"],
        title=data["title"],
        case_kind=data.get("case_kind"),
        intro=data.get("intro"),
        steps=tuple(_step(s) for s in data["steps"]),
        start_intents=tuple(data.get("start_intents", ())),
        start_payloads=tuple(data.get("start_payloads", ())),
        synonyms=synonyms,
        notes=tuple(Note(**n) for n in data.get("notes", ())),
        offers=tuple(Offer(**o) for o in data.get("offers", ())),
        story=data.get("story"),
    )


@cache
def all_flows() -> dict[str, FlowSpec]:
    flows: dict[str, FlowSpec] = {}
    for path in sorted(FLOWS_DIR.glob("*.yml")):
        if path.stem in {"menu", "words"}:
            continue
        flow = load_flow(path)
        flows[flow.name] = flow
    return flows


@cache
def menu_items() -> tuple[MenuItem, ...]:
    data = read_yaml(FLOWS_DIR / "menu.yml")
    return tuple(MenuItem(**item) for item in data["menu"])


@cache
def words() -> dict[str, frozenset[str]]:
    data = read_yaml(FLOWS_DIR / "words.yml")
    return {key: frozenset(str(w).lower() for w in values) for key, values in data.items()}


def mentions(kind: str, text: str) -> str | None:
    """The first word of list ``kind`` found anywhere in ``text`` (e.g. safety words)."""
    lowered = text.lower()
    return next((w for w in sorted(words()[kind]) if w in lowered), None)


def is_word(kind: str, text: str) -> bool:
    """Whether ``text`` as a whole is one of the short answers of ``kind`` (e.g. cancel)."""
    cleaned = text.strip().strip("。.!！~～ ").lower()
    return cleaned in words()[kind]
