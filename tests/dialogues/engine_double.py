"""Transcript tests without a database or an app: the real engine decides each turn.

``EngineChat`` does what ``bot.pipeline.Pipeline`` does around ``Engine.decide`` (rule
understanding as when Rasa is off, the real normaliser and rule book, the language the
conversation settled on, the state stored as JSON) and applies the actions to an in-memory
``Office`` (``tests/dialogues/office.py``). It has the surface of ``tests.factories.Chat``, so
a transcript reads the same on either. What only storage can show (rows written, a person
taking a conversation over, concurrent turns) is tested through the app.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime
from functools import cache
from typing import Any, Protocol

from bot.cases import Filer
from bot.evidence import sniff_image
from bot.knowledge.service import CaseShelf, KnowledgeService, load_knowledge_base
from bot.photochecks import RegistryPhotoChecks
from bot.photos import strip_metadata
from bot.rulebook import KnowledgeRuleBook
from bot.staff.passwords import hash_report_password
from bot.understanding import NluNormalizer
from dialogues.engine import Engine
from dialogues.knowledge_port import Certificate, KnowledgePort
from dialogues.model import EvidenceRef, Reply, Turn
from dialogues.ports import Ports
from dialogues.reading import PhotoReading
from dialogues.texts import language_of
from integrations.ccc import sample
from integrations.ccc.service import CccService
from nlu.rules import RuleParser
from nlu.types import Parse
from tests.dialogues.office import Office, OwnCases
from tests.factories import png_bytes


@cache
def _parser() -> RuleParser:
    return RuleParser()


@cache
def _engine() -> Engine:
    return Engine()


class SampleRegistry:
    """The bundled SAMPLE certificates in memory (no registry database)."""

    def __init__(self) -> None:
        self.records = {c.cert_no: c for c in sample.generate(20)}

    async def get(self, cert_no: str) -> Certificate | None:
        return self.records.get(cert_no)


async def sample_knowledge(
    today: date = date(2026, 11, 27), cases: CaseShelf | None = None
) -> KnowledgePort:
    """The app's knowledge port over the sample registry and the knowledge base (the one
    index the process's apps share), with the typical cases ``cases`` holds, if any."""
    ccc = CccService(SampleRegistry(), today=lambda: today)
    return KnowledgeService(ccc, await load_knowledge_base(), cases)


class EngineChat:
    """One simulated user whose turns the engine decides and an ``Office`` applies."""

    def __init__(
        self,
        office: Office | None = None,
        *,
        channel: str = "rest",
        sender: str | None = None,
        locale: str | None = None,
        now: datetime | None = None,
        knowledge: KnowledgePort | None = None,
        photos: bool = False,
        understand: Callable[[str, datetime], Awaitable[Parse]] | None = None,
    ) -> None:
        self.office = office or Office()
        # Photos are read (ReadPhoto) and their readings checked, as with a reader configured.
        self.photos = photos
        # Rule understanding, as when Rasa is off, unless a parser is given (a Rasa client).
        self.understand = understand
        self.channel = channel
        self.sender = sender or f"user-{uuid.uuid4().hex[:8]}"
        self.locale = locale
        self.now = now or datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
        self.knowledge = knowledge
        self.last: list[Reply] = []

    async def say(self, text: str, *, message_id: str | None = None) -> list[Reply]:
        """Text, or a button's payload when it starts with ``/`` (as ``Chat.say``)."""
        if text.startswith("/"):
            return await self._turn("button", "", payload=text, message_id=message_id)
        return await self._turn("text", text, message_id=message_id)

    async def photo(self, data: bytes | None = None, *, seed: int = 0) -> list[Reply]:
        """A photo, kept (metadata stripped, by SHA-256) before the turn refers to it."""
        data = data or png_bytes(seed)
        content_type = sniff_image(data)
        cleaned = strip_metadata(data, content_type)
        conversation = self.office.open(self.channel, self.sender, self._lang(), self.now)
        kept = self.office.keep_photo(
            conversation, hashlib.sha256(cleaned).hexdigest(), content_type
        )
        evidence = EvidenceRef(kept.id, kept.sha256, kept.content_type)
        return await self._turn("photo", "", evidence=evidence)

    async def reading(self, reading: PhotoReading) -> list[Reply]:
        """What the reader found on a photo sent earlier, back as a turn of its own."""
        return await self._turn("reading", "", reading=reading)

    async def send(self, kind: str) -> list[Reply]:
        """A message of another kind (voice, location, sticker…) with no text."""
        return await self._turn(kind, "")

    @property
    def text(self) -> str:
        return "\n".join(r.text for r in self.last)

    @property
    def awaiting(self) -> str | None:
        return self.last[-1].custom.get("awaiting") if self.last else None

    @property
    def buttons(self) -> list[str]:
        return [b.payload for r in self.last for b in r.buttons]

    @property
    def state(self) -> dict[str, Any]:
        found = self.office.conversation(self.channel, self.sender)
        return found.state if found else {}

    def _lang(self) -> str:
        found = self.office.conversation(self.channel, self.sender)
        if found is not None:
            return str(found.state.get("lang") or found.locale)
        return language_of(self.locale)

    async def _turn(
        self,
        kind: str,
        text: str,
        *,
        payload: str | None = None,
        evidence: EvidenceRef | None = None,
        message_id: str | None = None,
        reading: PhotoReading | None = None,
    ) -> list[Reply]:
        office, now = self.office, self.now
        message_id = message_id or uuid.uuid4().hex
        known = office.conversation(self.channel, self.sender)
        if known is not None and message_id in known.answers:
            self.last = [Reply.from_dict(r) for r in known.answers[message_id]]
            return self.last
        parse = None
        if kind == "text" and text.strip():
            parse = (
                await self.understand(text, now) if self.understand else _parser().parse(text, now)
            )
        lang = self._lang()
        turn = Turn(
            kind="button" if payload else kind,
            text=text,
            now=now,
            lang=lang,
            parse=parse,
            evidence=evidence,
            payload=payload,
            reading=reading,
        )
        reader = Filer(known.id if known else 0, self.channel, self.sender, "", now)
        ports = Ports(
            normalizer=NluNormalizer(),
            lookup=OwnCases(office, reader),
            knowledge=self.knowledge,
            rules=KnowledgeRuleBook(),
            hash_secret=hash_report_password,
            photos=RegistryPhotoChecks(self.knowledge)
            if self.photos and isinstance(self.knowledge, KnowledgeService)
            else None,
        )
        decision = await _engine().decide(known.state if known else {}, turn, ports)
        conversation = office.open(self.channel, self.sender, lang, now)
        filer = Filer(conversation.id, self.channel, self.sender, lang, now)
        receipts = [office.apply(filer, action) for action in decision.actions]
        state, replies = decision.settle(receipts)
        # Stored as JSON, as the conversations table keeps it.
        conversation.state = json.loads(json.dumps(state.dump(), ensure_ascii=False))
        conversation.answers[message_id] = [r.as_dict() for r in replies]
        conversation.message_count += 1
        self.last = replies
        return replies


class Talker(Protocol):
    """What a transcript needs of a chat: ``EngineChat`` or ``tests.factories.Chat``."""

    async def say(self, text: str, *, message_id: str | None = None) -> list[Any]: ...

    @property
    def text(self) -> str: ...

    @property
    def awaiting(self) -> str | None: ...


async def run(chat: Talker, turns: Sequence[tuple[str, str | None]]) -> None:
    """Say each text and check the question the bot then waits on (a transcript test)."""
    for said, awaiting in turns:
        await chat.say(said)
        assert chat.awaiting == awaiting, f"after {said!r}: {chat.text}"
