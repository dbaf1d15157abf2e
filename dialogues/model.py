"""What the engine takes in (a Turn) and gives back (Replies; see dialogues/actions.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dialogues.reading import PhotoReading
from dialogues.state import Expect
from nlu.types import Parse


@dataclass(frozen=True)
class Button:
    title: str
    payload: str

    def as_dict(self) -> dict[str, str]:
        return {"title": self.title, "payload": self.payload}


@dataclass
class Reply:
    """One message to the user; the channel adapter decides how to deliver it."""

    text: str
    buttons: list[Button] = field(default_factory=list)
    custom: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "buttons": [b.as_dict() for b in self.buttons],
            "custom": dict(self.custom),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reply:
        return cls(
            text=data.get("text", ""),
            buttons=[Button(**b) for b in data.get("buttons", [])],
            custom=dict(data.get("custom", {})),
        )


class Question(Reply):
    """A reply that asks something outside a form (the phone number of a claim, a certificate
    number): the engine keeps ``expect`` in the conversation state, so the next message is
    tried as its answer first. Stored and sent like any reply."""

    def __init__(
        self,
        text: str,
        buttons: list[Button] | None = None,
        custom: dict[str, Any] | None = None,
        *,
        expect: Expect,
    ) -> None:
        super().__init__(text, list(buttons or []), dict(custom or {}))
        self.expect = expect

    def plain(self) -> Reply:
        """The same words, asking nothing (another question is pending)."""
        return Reply(self.text, self.buttons, self.custom)


@dataclass(frozen=True)
class EvidenceRef:
    """A stored file the user sent (already on disk with its SHA-256)."""

    id: int
    sha256: str
    content_type: str


@dataclass(frozen=True)
class Turn:
    """One user message, channel-neutral and already understood where needed."""

    kind: str  # text | button | photo | reading | voice | location | event | other
    text: str
    now: datetime
    lang: str = "zh"
    parse: Parse | None = None
    evidence: EvidenceRef | None = None
    payload: str | None = None  # a button's payload when kind == "button"
    # kind == "reading": what the reader found on a photo sent earlier (dialogues/photo.py)
    reading: PhotoReading | None = None

    @property
    def intent(self) -> str | None:
        return self.parse.intent if self.parse else None

    @property
    def confidence(self) -> float:
        return self.parse.confidence if self.parse else 0.0
