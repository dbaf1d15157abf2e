"""Channel-neutral results of understanding one text."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

INTENTS: tuple[str, ...] = (
    "greet",
    "goodbye",
    "thank",
    "affirm",
    "deny",
    "cancel",
    "help",
    "human_handoff",
    "complain",
    "report",
    "ask_reward",
    "check_ccc_cert",
    "ask_ccc_required",
    "ask_identify_fake",
    "ask_compensation",
    "case_status",
    "ask_process",
    "inform",
    "out_of_scope",
)

ENTITY_TYPES: tuple[str, ...] = (
    "platform",
    "product",
    "brand",
    "merchant",
    "amount",
    "date",
    "phone",
    "cert_no",
    "case_id",
    "order_no",
    "person_name",
    "address",
    "id_number",
)


@dataclass(frozen=True)
class Entity:
    """One entity found in a text; ``value`` is normalised (see nlu.entities)."""

    entity: str
    value: Any
    start: int
    end: int
    text: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"entity": self.entity, "value": self.value, "start": self.start, "end": self.end}


@dataclass(frozen=True)
class Parse:
    """The understanding of one text: the intent, its confidence and the entities."""

    text: str
    intent: str
    confidence: float
    entities: tuple[Entity, ...] = field(default_factory=tuple)
    source: str = "rules"

    def first(self, entity: str) -> Entity | None:
        return next((e for e in self.entities if e.entity == entity), None)

    def values(self, entity: str) -> list[Any]:
        return [e.value for e in self.entities if e.entity == entity]

    def as_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "intent": self.intent,
            "confidence": round(self.confidence, 4),
            "entities": [e.as_dict() for e in self.entities],
        }
