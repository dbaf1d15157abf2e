"""What a photo's reading looks like to the dialogue: the fields read, with confidences, and
the checks made of them. ``bot/`` fills these from the reading core (``bot/photocheck``);
nothing here reads a picture."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal, Protocol

from dialogues.knowledge_port import CertificateCheck, ListingCheck

# Fields a label or a listing may reveal, in the order they are shown.
FIELDS = (
    "ccc_number",
    "model",
    "brand",
    "holder",
    "manufacturer",
    "sc_licence",
    "drug_approval",
    "cosmetics_filing",
    "uscc",
    "business_name",
    "registered_address",
)
# Below this a certificate number is read back to the user before anything is looked up.
CONFIDENT = 0.85
Outcome = Literal["read", "busy", "timeout", "failed"]


@dataclass(frozen=True)
class ReadField:
    name: str
    value: str
    confidence: float


@dataclass(frozen=True)
class PhotoReading:
    """One photo's reading. ``outcome`` other than ``read`` means no text came back."""

    evidence_id: int
    outcome: Outcome = "read"
    kind: str = "unknown"  # label | listing | licence | qr | unknown
    text: str = ""  # the recognised lines, joined by newlines
    fields: tuple[ReadField, ...] = ()
    qr: tuple[str, ...] = ()
    mark: bool | None = None  # the CCC mark was seen (None: not looked for)

    def field(self, name: str) -> ReadField | None:
        return next((f for f in self.fields if f.name == name), None)

    @property
    def empty(self) -> bool:
        return not self.fields and not self.qr and len(self.text.strip()) < 6

    def as_dict(self) -> dict[str, Any]:
        return {
            "evidence_id": self.evidence_id,
            "outcome": self.outcome,
            "kind": self.kind,
            "text": self.text,
            "fields": [[f.name, f.value, round(f.confidence, 3)] for f in self.fields],
            "qr": list(self.qr),
            "mark": self.mark,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PhotoReading:
        return cls(
            evidence_id=int(data["evidence_id"]),
            outcome=data.get("outcome", "read"),
            kind=str(data.get("kind", "unknown")),
            text=str(data.get("text", "")),
            fields=tuple(ReadField(str(n), str(v), float(c)) for n, v, c in data.get("fields", [])),
            qr=tuple(str(q) for q in data.get("qr", [])),
            mark=data.get("mark"),
        )

    def with_field(self, name: str, value: str) -> PhotoReading:
        """The reading with ``name`` confirmed (or typed) by the user: full confidence."""
        kept = tuple(f for f in self.fields if f.name != name)
        return PhotoReading(
            self.evidence_id,
            self.outcome,
            self.kind,
            self.text,
            (ReadField(name, value, 1.0), *kept),
            self.qr,
            self.mark,
        )


@dataclass(frozen=True)
class Note:
    """One finding of a check, said through ``photo.note.<code>`` with ``params``."""

    code: str
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PhotoCheck:
    """The checks of a reading: the certificate's (or the listing's) and what was compared."""

    certificate: CertificateCheck | None = None
    listing: ListingCheck | None = None
    notes: tuple[Note, ...] = ()
    problem: bool = False  # something the consumer should act on


class PhotoChecks(Protocol):
    """Checks a reading against the registry and the catalogue; reads only."""

    async def check_photo(self, reading: PhotoReading, *, on: date) -> PhotoCheck: ...
