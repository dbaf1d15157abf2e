"""What a WeChat message means for the pipeline: its kind, content and dedup key.

Pure functions over the decrypted fields; downloading a photo happens later, inside the
processing that runs exactly once per message.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.senders import SenderIds
from integrations.wechat.envelope import BadRequest

GREETING_EVENTS = {"subscribe", "scan"}
MAX_TEXT_CHARS = 4000


@dataclass(frozen=True)
class Incoming:
    """One verified WeChat message, channel-specific details kept for the adapter."""

    account: str  # ToUserName: the Official Account's original id (gh_…)
    openid: str  # FromUserName: only for the passive reply and the address, never stored clear
    sender_id: str  # the openid's keyed hash: what conversations, cases and keys store
    message_id: str  # MsgId; for events (MsgId 0) CreateTime, Event, EventKey
    created: datetime
    kind: str  # an InboundMessage kind, or "silent" for events that need no answer
    text: str = ""
    payload: str | None = None
    media_id: str | None = None
    pic_url: str | None = None
    menu_id: str | None = None  # bizmsgmenuid when the user clicked a reply link


def _required(fields: dict[str, str], *names: str) -> None:
    missing = [n for n in names if not fields.get(n, "").strip()]
    if missing:
        raise BadRequest(f"missing fields: {', '.join(missing)}")


def as_payload(text: str) -> str | None:
    """A typed ``/command`` is a button payload, as in the REST channel."""
    stripped = text.strip()
    if stripped.startswith("/") and " " not in stripped and len(stripped) <= 64:
        return stripped
    return None


def classify(fields: dict[str, str], senders: SenderIds) -> Incoming:
    _required(fields, "ToUserName", "FromUserName", "CreateTime", "MsgType")
    created_at = fields["CreateTime"].strip()
    if not created_at.isdigit() or len(created_at) > 12:
        raise BadRequest("CreateTime must be a Unix time")
    openid = fields["FromUserName"].strip()
    if len(openid) > 64:
        raise BadRequest("FromUserName is too long")
    msg_type = fields["MsgType"].strip().lower()

    def make(message_id: str, kind: str, **details: str | None) -> Incoming:
        return Incoming(
            account=fields["ToUserName"],
            openid=openid,
            sender_id=senders.sender_id("wechat", openid),
            message_id=message_id,
            created=datetime.fromtimestamp(int(created_at), tz=UTC),
            kind=kind,
            **details,  # type: ignore[arg-type]
        )

    if msg_type == "event":
        _required(fields, "Event")
        event = fields["Event"].strip().lower()
        key = fields.get("EventKey", "").strip()
        # MsgId is 0 for events: the sender (message ids are kept per conversation) and
        # CreateTime identify one, and the event and its key tell apart two events in the same
        # second (subscribe, then a menu click). The openid stays out: ids are stored clear.
        event_id = f"ev:{created_at}:{event[:24]}"
        if key:
            event_id += ":" + hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:12]
        if event in GREETING_EVENTS:
            return make(event_id, "event")
        if event == "click" and key:
            return make(event_id, "button", payload=key[:64])
        # Leaving, opening links, location reports, job receipts and the rest need no answer.
        return make(event_id, "silent")
    _required(fields, "MsgId")
    msg_id = fields["MsgId"].strip()
    if not msg_id.isdigit() or len(msg_id) > 32:
        raise BadRequest("MsgId must be a number")
    match msg_type:
        case "text":
            text = fields.get("Content", "")[:MAX_TEXT_CHARS]
            payload = as_payload(text)
            menu_id = fields.get("bizmsgmenuid") or None
            return make(
                msg_id, "text", text="" if payload else text, payload=payload, menu_id=menu_id
            )
        case "image":
            _required(fields, "MediaId")
            return make(
                msg_id, "photo", media_id=fields["MediaId"], pic_url=fields.get("PicUrl") or None
            )
        case "voice":
            # Speech recognition, when the account has it on, arrives as text: treat it as typed.
            recognised = fields.get("Recognition", "").strip().rstrip("。")
            if recognised:
                return make(msg_id, "text", text=recognised[:MAX_TEXT_CHARS])
            return make(msg_id, "voice")
        case "location":
            # The place's label is an address: it answers whichever address the form asks for.
            label = fields.get("Label", "").strip()
            return make(msg_id, "text" if label else "location", text=label[:300])
        case _:
            return make(msg_id, "other")
