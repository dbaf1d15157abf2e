"""Messages to a consumer outside a reply: case notices and staff messages, via the outbox.

Every push is an outbox row with topic ``reply:<channel>`` and the reply payload the channel
adapters deliver. The REST channel has no way to push, so it gets no outbox row: the message is kept on the
conversation's transcript and the web page fetches it on its next visit
(``GET /webhooks/rest/pushes``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from bot import outbox
from bot.conversations import transcript_row
from bot.db.models import Conversation, TranscriptEntry
from nlu.datafile import read_yaml

_TRANSCRIPT = cast(Table, TranscriptEntry.__table__)
NOTICES = Path(__file__).resolve().parent.parent / "notices.yml"
WORKFLOW_RULES = Path(__file__).resolve().parent.parent / "rules" / "workflow.yml"


@cache
def notices() -> dict[str, dict[str, Any]]:
    return dict(read_yaml(NOTICES))


@cache
def workflow_rules() -> dict[str, Any]:
    return dict(read_yaml(WORKFLOW_RULES))


def notice(lang: str, key: str, **values: Any) -> str:
    texts = notices().get(lang) or notices()["zh"]
    kind = values.get("kind")
    if isinstance(kind, str):
        values["kind"] = texts["kind"].get(kind, kind)
    return str(texts[key]).format(**values)


def public_author(author: str, lang: str) -> str:
    """Who a message is from as the consumer sees it: a role (工作人员), never a username."""
    return notice(lang, "author_staff" if author.startswith("staff:") else "author_system")


def can_push(channel: str) -> bool:
    return channel in set(workflow_rules()["push_channels"])


@dataclass(frozen=True)
class Push:
    """One message for a consumer (``push``'s arguments, for a batch: ``push_all``)."""

    channel: str
    recipient_id: str
    text: str
    source: str
    author: str = "system"
    conversation_id: int | None = None
    custom: dict[str, Any] | None = None


def push(
    session: Session,
    *,
    channel: str,
    recipient_id: str,
    text: str,
    source: str,
    now: datetime,
    author: str = "system",
    conversation_id: int | None = None,
    custom: dict[str, Any] | None = None,
) -> None:
    """Queue one message for the consumer and put it on their transcript in the same
    transaction; ``source`` names what queued it (``outbox.Key``), so the same push twice is
    refused. Async callers: ``await session.run_sync(push, channel=..., ...)``."""
    push_all(
        session,
        [Push(channel, recipient_id, text, source, author, conversation_id, custom)],
        now=now,
    )


def push_all(session: Session, pushes: Sequence[Push], *, now: datetime) -> None:
    """``push`` for many messages: one outbox statement and one transcript statement, so a
    fan-out's batch holds the database's write lock for a moment, not a statement per user."""
    queued: list[outbox.Queued] = []
    kept: list[dict[str, Any]] = []
    for one in pushes:
        conversation_id = one.conversation_id
        if conversation_id is None:
            conversation_id = session.execute(
                select(Conversation.id).where(
                    Conversation.channel == one.channel,
                    Conversation.sender_id == one.recipient_id,
                )
            ).scalar_one_or_none()
        payload = {
            "recipient_id": one.recipient_id,
            "text": one.text,
            "buttons": [],
            "custom": one.custom or {},
        }
        if one.channel != "rest":
            queued.append(
                outbox.Queued(
                    topic=f"reply:{one.channel}",
                    key=outbox.Key(one.recipient_id, one.source),
                    payload=payload,
                    due=now,
                    lane=outbox.lane_of(one.channel, one.recipient_id),
                )
            )
        if conversation_id is not None:
            kept.append(transcript_row(conversation_id, "out", one.author, one.text, payload, now))
    outbox.enqueue_all(session, queued)
    if kept:
        session.execute(_TRANSCRIPT.insert(), kept)
