"""Builders for tests: a running app, a chat driven turn by turn, sample images."""

from __future__ import annotations

import io
import struct
import uuid
import zlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI

from bot.app import create_app
from bot.messages import InboundMessage
from bot.pipeline import Pipeline
from bot.settings import Settings


@asynccontextmanager
async def running_app(settings: Settings, *, migrate: bool = False) -> AsyncIterator[FastAPI]:
    app = create_app(settings, migrate=migrate)
    async with app.router.lifespan_context(app):
        yield app


def png_bytes(seed: int = 0, size: int = 8) -> bytes:
    """A small valid PNG whose pixels (and so SHA-256) depend on ``seed``."""
    rows = (
        b"\x00" + bytes((x * 3 + y * 5 + seed) % 256 for x in range(size * 3)) for y in range(size)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"".join(rows))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


# A consumer's answers to the complaint form, by the question asked (rule understanding).
COMPLAINT_ANSWERS = {
    "product": "充电宝",
    "brand": "安克",
    "model_no": "A1263",
    "platform": "拼多多",
    "merchant": "数码配件小铺",
    # A Shenzhen Nanshan shop: the case is routed to that office (bot/rules/offices.yml).
    "merchant_address": "广东省深圳市南山区科技园南区",
    "order_no": "/skip",
    "purchase_date": "2026-11-20",
    "amount": "八十九块",
    "problem": "充电宝没有3C标志，用了两次就鼓包发烫",
    "demand": "退款和赔偿",
    "claim_amount": "500元",
    "photos": "/skip",
    "name": "王小明",
    "phone": "13612345678",
    "address": "广州市天河区体育西路1号",
    "id_type": "/skip",
    "consent_publish": "/yes",
    "consent_mediation": "/yes",
}


class Chat:
    """One simulated user talking to the pipeline directly (transcript tests)."""

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        channel: str = "rest",
        sender: str | None = None,
        locale: str | None = None,
        now: datetime | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.channel = channel
        self.sender = sender or f"user-{uuid.uuid4().hex[:8]}"
        self.locale = locale
        self.now = now or datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
        self.last: list[Any] = []

    async def say(self, text: str, *, message_id: str | None = None) -> list[Any]:
        is_payload = text.startswith("/")
        handled = await self.pipeline.handle(
            InboundMessage(
                channel=self.channel,
                channel_message_id=message_id or uuid.uuid4().hex,
                sender_id=self.sender,
                kind="text",
                text="" if is_payload else text,
                payload=text if is_payload else None,
                received_at=self.now,
                locale=self.locale,
            )
        )
        self.last = handled.replies
        return handled.replies

    async def photo(self, data: bytes | None = None, *, seed: int = 0) -> list[Any]:
        store = self.pipeline_evidence
        stored = await store.save_image(data or png_bytes(seed))
        handled = await self.pipeline.handle(
            InboundMessage(
                channel=self.channel,
                channel_message_id=uuid.uuid4().hex,
                sender_id=self.sender,
                kind="photo",
                file=stored,
                received_at=self.now,
                locale=self.locale,
            )
        )
        self.last = handled.replies
        return handled.replies

    pipeline_evidence: Any = None

    @property
    def text(self) -> str:
        return "\n".join(r.text for r in self.last)

    @property
    def awaiting(self) -> str | None:
        return self.last[-1].custom.get("awaiting") if self.last else None

    @property
    def buttons(self) -> list[str]:
        return [b.payload for r in self.last for b in r.buttons]


def chat_for(app: FastAPI, **kwargs: Any) -> Chat:
    chat = Chat(app.state.pipeline, **kwargs)
    chat.pipeline_evidence = app.state.evidence
    return chat


def png_file(seed: int = 0) -> io.BytesIO:
    return io.BytesIO(png_bytes(seed))


async def run(chat: Chat, turns: Sequence[tuple[str, str | None]]) -> None:
    """Say each text and check the question the bot then waits on (a transcript test)."""
    for said, awaiting in turns:
        await chat.say(said)
        assert chat.awaiting == awaiting, f"after {said!r}: {chat.text}"
