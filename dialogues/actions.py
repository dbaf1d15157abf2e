"""What a decided turn asks the pipeline to do, and how its receipts become replies.

The engine never writes. A turn that files a case, queues for a person or claims a case
returns an *action*; the pipeline applies the actions inside the turn's transaction and
hands each one's receipt (a case number, a queue position, a claim result) back to the
``then`` the engine attached, which renders the replies and updates the state. ``then`` is
pure: the same receipt gives the same replies.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dialogues.model import Reply
from dialogues.ports import CaseReceipt, CaseView, ClaimResult, HandoverTicket
from dialogues.state import ConversationState


@dataclass(frozen=True)
class SubmitCase:
    """File the form as a case; the receipt is a ``CaseReceipt``."""

    kind: str
    fields: dict[str, Any]
    personal: dict[str, Any]
    evidence_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class RequestHandover:
    """Queue the conversation for a person; the receipt is a ``HandoverTicket``."""

    reason: str
    detail: str = ""


@dataclass(frozen=True)
class CancelHandover:
    """Withdraw the queued request; the receipt is True if one was queued."""


@dataclass(frozen=True)
class ClaimCase:
    """Claim a case filed on another channel with its full mobile number; ``ClaimReceipt``."""

    case_no: str
    phone: str


@dataclass(frozen=True)
class AttachEvidence:
    """Attach loose photos to one of the sender's own cases; True if it was theirs."""

    case_no: str
    evidence_ids: tuple[int, ...]


@dataclass(frozen=True)
class ReadPhoto:
    """Read a stored photo in the background: the reading comes back later as a turn of its
    own (kind ``reading``), so a slow read never holds up a reply. The receipt is True when
    the photo is queued, False when the readers are full (the user is told to try later)."""

    evidence_id: int
    sha256: str
    content_type: str


@dataclass(frozen=True)
class Topic:
    """What a subscription is to: a category key (``chargers``), a brand or a region."""

    kind: str  # category | brand | region | certificate
    value: str


@dataclass(frozen=True)
class Subscribe:
    """Subscribe the sender to safety alerts about ``topic``, sent in ``lang`` (the language
    of the conversation when subscribing); the receipt is ``Subscriptions``."""

    topic: Topic
    lang: str = "zh"


@dataclass(frozen=True)
class Unsubscribe:
    """Drop the sender's subscription number ``which`` (from 1, in listing order), or all of
    them when None; the receipt is ``Subscriptions``."""

    which: int | None = None


@dataclass(frozen=True)
class ListSubscriptions:
    """Read the sender's subscriptions (in the turn's transaction); ``Subscriptions``."""


@dataclass(frozen=True)
class ConsentToAlerts:
    """Record (``agree``) or withdraw the sender's consent to receive alerts outside the
    conversation (WeChat subscription messages); the receipt is ``Subscriptions``."""

    agree: bool


@dataclass(frozen=True)
class WatchCertificate:
    """Watch a CCC certificate: the sender is told when a registry import changes its status.
    ``status`` is the registry status the sender was shown; the watch is one of their
    subscriptions (topic ``certificate``), listed and dropped with them; ``Subscriptions``."""

    cert_no: str
    status: str
    lang: str = "zh"


@dataclass(frozen=True)
class Subscriptions:
    """The sender's subscriptions after the action, and what it added or removed (empty when
    nothing changed: already subscribed, no such number, the limit reached). ``consent``:
    whether alerts may reach them outside the conversation, None on a channel that never
    needs it (Telegram and the web chat can always be sent to)."""

    current: tuple[Topic, ...]
    changed: tuple[Topic, ...] = ()
    consent: bool | None = None


Action = (
    SubmitCase
    | RequestHandover
    | CancelHandover
    | ClaimCase
    | AttachEvidence
    | ReadPhoto
    | Subscribe
    | Unsubscribe
    | ListSubscriptions
    | ConsentToAlerts
    | WatchCertificate
)


@dataclass(frozen=True)
class ClaimReceipt:
    result: ClaimResult
    tries_left: int
    # The claimed case as its new owner sees it (None unless ``result == "claimed"``).
    view: CaseView | None = None


# A receipt with the state it may update, to the replies it renders.
Then = Callable[[Any, ConversationState], list[Reply]]


class Pending(Reply):
    """A place in the replies kept for what ``action``'s receipt will say; it is replaced by
    ``then``'s replies before anything is sent or stored."""

    def __init__(self, action: Action, then: Then) -> None:
        super().__init__("")
        self.action = action
        self.then = then

    def as_dict(self) -> dict[str, Any]:
        raise TypeError(f"{self.action!r} was never applied")


@dataclass
class Decision:
    """The engine's answer before anything is written: the new state, the replies (some still
    pending on receipts) and ``finish``, which the engine runs once all are rendered."""

    state: ConversationState
    items: list[Reply]
    finish: Callable[[ConversationState, list[Reply]], None] = field(default=lambda _s, _r: None)

    @property
    def actions(self) -> list[Action]:
        return [item.action for item in self.items if isinstance(item, Pending)]

    def settle(self, receipts: list[Any]) -> tuple[ConversationState, list[Reply]]:
        """The final state and replies, given one receipt per action in order."""
        if len(receipts) != len(self.actions):
            raise ValueError(f"{len(self.actions)} actions, {len(receipts)} receipts")
        state = copy.deepcopy(self.state)  # settling twice (a retried write) starts afresh
        replies: list[Reply] = []
        pending = iter(receipts)
        for item in self.items:
            if isinstance(item, Pending):
                replies += item.then(next(pending), state)
            else:
                replies.append(item)
        self.finish(state, replies)
        return state, replies


def receipt_types() -> dict[type, type]:
    """Which receipt each action's ``then`` expects (for the applier and its tests)."""
    return {
        SubmitCase: CaseReceipt,
        RequestHandover: HandoverTicket,
        CancelHandover: bool,
        ClaimCase: ClaimReceipt,
        AttachEvidence: bool,
        ReadPhoto: bool,
        Subscribe: Subscriptions,
        Unsubscribe: Subscriptions,
        ListSubscriptions: Subscriptions,
        ConsentToAlerts: Subscriptions,
        WatchCertificate: Subscriptions,
    }
