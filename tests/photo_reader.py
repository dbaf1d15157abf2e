"""A stand-in for the OCR worker pool (``bot.photocheck.OcrPool``) in app tests: it returns
the reading scripted for a photo's content, after an optional wait, and refuses with ``Busy``
when as many photos as ``capacity`` are already being read, as the pool does."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from typing import Any

from bot.photocheck.errors import Busy


@dataclass(frozen=True)
class Field:
    name: str
    value: str
    confidence: float


@dataclass(frozen=True)
class Qr:
    text: str


@dataclass(frozen=True)
class Scripted:
    """The shape of ``bot.photocheck.Reading`` the chat reads."""

    kind: str = "ccc_label"
    fields: tuple[Field, ...] = ()
    qr: tuple[Qr, ...] = ()
    ccc_mark: str = "present"
    text: str = ""


@dataclass
class ScriptedReader:
    readings: dict[str, Scripted] = field(default_factory=dict)  # by SHA-256 of the image
    default: Scripted = field(default_factory=lambda: Scripted(kind="nothing", ccc_mark="unknown"))
    seconds: float = 0.0
    capacity: int = 100
    reading_now: int = 0
    seen: list[str] = field(default_factory=list)

    def script(self, image: bytes, reading: Scripted) -> None:
        self.readings[hashlib.sha256(image).hexdigest()] = reading

    async def read(self, image: bytes) -> Any:
        if self.reading_now >= self.capacity:
            raise Busy()
        self.reading_now += 1
        try:
            await asyncio.sleep(self.seconds)
            sha = hashlib.sha256(image).hexdigest()
            self.seen.append(sha)
            return self.readings.get(sha, self.default)
        finally:
            self.reading_now -= 1


def label(number: str, *, model: str = "", maker: str = "", sure: float = 0.96) -> Scripted:
    fields = [Field("ccc_number", number, sure)]
    if model:
        fields.append(Field("model", model, 0.93))
    if maker:
        fields.append(Field("manufacturer", maker, 0.9))
    text = "\n".join(f"{f.name}: {f.value}" for f in fields)
    return Scripted(fields=tuple(fields), text=text)
