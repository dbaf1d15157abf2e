"""The pipeline's appliers and case reads over plain lists: a case desk, the staff queue,
claims and photos, for transcript tests that need no database.

Numbers, deadlines, duplicate keys, queue priorities, waits and claim limits come from the
same rules the app applies (``bot/deadlines.py``, ``bot/reports.py``, ``bot/handover.py``,
``bot/status.py``); only where the rows live differs. ``tests/dialogues/test_engine_double.py``
holds the two to the same replies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot import handover, reports
from bot.business.identity import Sellers
from bot.cases import PREFIX, Filer, decision_deadline
from bot.deadlines import local_date
from bot.status import WAITING, ClaimPolicy, same_phone
from dialogues.actions import (
    Action,
    AttachEvidence,
    CancelHandover,
    ClaimCase,
    ClaimReceipt,
    ConsentToAlerts,
    ListSubscriptions,
    ReadPhoto,
    RequestHandover,
    SubmitCase,
    Subscribe,
    Subscriptions,
    Topic,
    Unsubscribe,
    WatchCertificate,
    receipt_types,
)
from dialogues.ports import CaseReceipt, CaseView, HandoverTicket
from dialogues.subscriptions import MAX_SUBSCRIPTIONS

# Identifies sellers as the real submission does (bot/business), for merging duplicates.
SELLERS = Sellers()


@dataclass
class Conversation:
    id: int
    channel: str
    sender_id: str
    locale: str
    created_at: datetime
    state: dict[str, Any] = field(default_factory=dict)
    message_count: int = 0
    # Replies given, by message id: a repeated message gets them again.
    answers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


@dataclass
class FiledCase:
    id: int
    case_no: str
    kind: str
    conversation_id: int
    channel: str
    sender_id: str
    fields: dict[str, Any]
    personal: dict[str, Any]
    submitted_at: datetime
    updated_at: datetime
    decision_due: Any
    duplicate_of: int | None = None
    linked_case_no: str | None = None
    name_key: str | None = None
    link_key: str | None = None
    uscc: str | None = None
    region_code: str | None = None
    status: str = "submitted"


@dataclass
class Photo:
    id: int
    conversation_id: int
    sha256: str
    content_type: str
    case_id: int | None = None


@dataclass
class QueuedRequest:
    id: int
    conversation_id: int
    reason: str
    detail: str
    priority: int
    requested_at: datetime
    status: str = "queued"


@dataclass(frozen=True)
class ClaimTry:
    case_no: str
    channel: str
    sender_id: str
    succeeded: bool
    locked: bool
    at: datetime


class Office:
    """Everything the turns of several chats share: conversations, cases, queue, claims."""

    def __init__(
        self, claims: ClaimPolicy | None = None, hours: handover.StaffHours | None = None
    ) -> None:
        self.policy = claims or ClaimPolicy()
        self.hours = hours or handover.StaffHours.default()
        self.conversations: dict[tuple[str, str], Conversation] = {}
        self.cases: list[FiledCase] = []
        self.photos: dict[int, Photo] = {}
        self.requests: list[QueuedRequest] = []
        self.claims: list[ClaimTry] = []
        self.sequences: dict[tuple[str, str], int] = {}
        self.applied: list[Action] = []
        # Photos queued for reading, and how many more the readers take (0: busy).
        self.reads: list[ReadPhoto] = []
        self.reader_room = 100
        # Alert subscriptions by (channel, sender id), in the order they were made.
        self.subscriptions: dict[tuple[str, str], list[Topic]] = {}
        # Who agreed to alerts as WeChat subscription messages.
        self.consents: set[tuple[str, str]] = set()
        # Watched certificates: (channel, sender id, number) -> the status the watcher saw.
        self.watched: dict[tuple[str, str, str], str] = {}

    # ---- conversations and photos --------------------------------------------------------
    def conversation(self, channel: str, sender_id: str) -> Conversation | None:
        return self.conversations.get((channel, sender_id))

    def open(self, channel: str, sender_id: str, locale: str, now: datetime) -> Conversation:
        found = self.conversation(channel, sender_id)
        if found is None:
            found = Conversation(len(self.conversations) + 1, channel, sender_id, locale, now)
            self.conversations[(channel, sender_id)] = found
        return found

    def keep_photo(self, conversation: Conversation, sha256: str, content_type: str) -> Photo:
        photo = Photo(len(self.photos) + 1, conversation.id, sha256, content_type)
        self.photos[photo.id] = photo
        return photo

    # ---- actions -------------------------------------------------------------------------
    def apply(self, filer: Filer, action: Action) -> Any:
        """The action's receipt, of the type its ``then`` expects (``receipt_types``)."""
        match action:
            case SubmitCase():
                receipt: Any = self.submit(filer, action)
            case RequestHandover():
                receipt = self.request_handover(filer, action)
            case CancelHandover():
                receipt = self.cancel_handover(filer)
            case ClaimCase():
                receipt = self.claim(filer, action)
            case AttachEvidence():
                receipt = self.attach(filer, action)
            case ReadPhoto():
                receipt = len(self.reads) < self.reader_room
                if receipt:
                    self.reads.append(action)
            case Subscribe() | Unsubscribe() | ListSubscriptions() | ConsentToAlerts():
                receipt = self.subscription(filer, action)
            case WatchCertificate():
                topic = Topic("certificate", action.cert_no)
                receipt = self.subscription(filer, Subscribe(topic, action.lang))
                if receipt.changed:
                    self.watched[(filer.channel, filer.sender_id, action.cert_no)] = action.status
            case _:
                raise TypeError(f"no applier for {action!r}")
        expected = receipt_types()[type(action)]
        if not isinstance(receipt, expected):
            raise TypeError(f"{action!r} gave {receipt!r}, not a {expected.__name__}")
        self.applied.append(action)
        return receipt

    def subscription(
        self,
        filer: Filer,
        action: Subscribe | Unsubscribe | ListSubscriptions | ConsentToAlerts,
    ) -> Subscriptions:
        """As ``bot.alerts.apply``: the same limit, the same listing order, consent asked on
        WeChat only."""
        who = (filer.channel, filer.sender_id)
        mine = self.subscriptions.setdefault(who, [])
        current = tuple(mine)
        asked = filer.channel == "wechat"
        if isinstance(action, ConsentToAlerts):
            if not asked:
                return Subscriptions(current)
            (self.consents.add if action.agree else self.consents.discard)(who)
            return Subscriptions(current, consent=action.agree)
        consent = (who in self.consents) if asked else None
        if isinstance(action, Subscribe):
            if action.topic in mine or len(mine) >= MAX_SUBSCRIPTIONS:
                return Subscriptions(current, consent=consent)
            mine.append(action.topic)
            return Subscriptions(tuple(mine), (action.topic,), consent)
        if isinstance(action, Unsubscribe):
            if action.which is None:
                gone = list(mine)
            elif 1 <= action.which <= len(mine):
                gone = [mine[action.which - 1]]
            else:
                return Subscriptions(current)
            for topic in gone:
                mine.remove(topic)
            return Subscriptions(tuple(mine), tuple(gone))
        return Subscriptions(current, consent=consent)

    def submit(self, filer: Filer, action: SubmitCase) -> CaseReceipt:
        now = filer.now.astimezone(UTC)
        prefix, day = PREFIX[action.kind], local_date(now).strftime("%Y%m%d")
        seq = self.sequences[(prefix, day)] = self.sequences.get((prefix, day), 0) + 1
        deadline = decision_deadline(action.kind, now)
        fields = dict(action.fields)
        linked = fields.pop("linked_case_no", None)
        if action.kind == "report" and reports.wants_anonymous_reward(fields):
            fields["identity_code"] = reports.new_identity_code()
        case = FiledCase(
            id=len(self.cases) + 1,
            case_no=f"{prefix}{day}{seq:06d}",
            kind=action.kind,
            conversation_id=filer.conversation_id,
            channel=filer.channel,
            sender_id=filer.sender_id,
            fields=fields,
            personal=dict(action.personal),
            submitted_at=now,
            updated_at=now,
            decision_due=deadline.due,
            linked_case_no=linked,
        )
        original = None
        if action.kind == "report":
            case.name_key = reports.name_key(fields.get("target_name"))
            case.link_key = reports.link_key(fields.get("target_location"))
            seller = SELLERS.identify("report", fields)
            case.uscc = seller.uscc
            case.region_code = seller.region.code if seller.region else None
            original = self._duplicate_of(case, now)
            case.duplicate_of = original.id if original else None
        self.cases.append(case)
        for other in self.cases:
            if linked and other.case_no == linked and other.conversation_id == case.conversation_id:
                other.linked_case_no, other.updated_at = case.case_no, now
        for evidence_id in action.evidence_ids:
            photo = self.photos.get(evidence_id)
            if photo is not None and photo.conversation_id == filer.conversation_id:
                photo.case_id = case.id
        return CaseReceipt(
            case_no=case.case_no,
            kind=case.kind,
            decision_due=deadline.due,
            working_days=deadline.working_days,
            calendar_estimated=deadline.estimated,
            merged=original is not None,
            linked_case_no=linked,
            identity_code=fields.get("identity_code"),
        )

    def _duplicate_of(self, case: FiledCase, now: datetime) -> FiledCase | None:
        """The earliest open report on the same target within the window."""
        if not case.name_key and not case.link_key and not case.uscc:
            return None
        window = timedelta(days=int(reports.rules()["duplicate_window"]["calendar_days"]))
        for other in self.cases:
            # As bot.reports.find_duplicate: the same code, link, or name in the same county.
            same = (
                (case.uscc and other.uscc == case.uscc)
                or (case.link_key and other.link_key == case.link_key)
                or (
                    case.name_key
                    and case.region_code
                    and other.name_key == case.name_key
                    and other.region_code == case.region_code
                )
            )
            if (
                same
                and other.kind == "report"
                and other.status in reports.rules()["open_statuses"]
                and other.submitted_at >= now - window
                and other.duplicate_of is None
            ):
                return other
        return None

    def request_handover(self, filer: Filer, action: RequestHandover) -> HandoverTicket:
        now = filer.now.astimezone(UTC)
        existing = self._queued(filer.conversation_id)
        priority = self._priority(action.reason, filer, now)
        if existing is not None:
            if priority < existing.priority:
                existing.priority = priority
                if existing.reason != "safety":
                    existing.reason = action.reason
            ahead = self._ahead(existing)
            return handover.ticket(existing.id, ahead, now, hours=self.hours, already_queued=True)
        queued = QueuedRequest(
            len(self.requests) + 1,
            filer.conversation_id,
            action.reason,
            action.detail,
            priority,
            now,
        )
        self.requests.append(queued)
        ahead = self._ahead(queued)
        return handover.ticket(queued.id, ahead, now, hours=self.hours)

    def cancel_handover(self, filer: Filer) -> bool:
        queued = self._queued(filer.conversation_id)
        if queued is None:
            return False
        queued.status = "cancelled"
        return True

    def _queued(self, conversation_id: int) -> QueuedRequest | None:
        return next(
            (
                r
                for r in self.requests
                if r.conversation_id == conversation_id and r.status == "queued"
            ),
            None,
        )

    def _ahead(self, request: QueuedRequest) -> int:
        return sum(
            1
            for r in self.requests
            if r.status == "queued"
            and r.id != request.id
            and (r.priority, r.id) < (request.priority, request.id)
        )

    def _priority(self, reason: str, filer: Filer, now: datetime) -> int:
        """As ``bot.handover``: safety first for established conversations and within the
        budget of new ones, after the genuine requests beyond it."""
        rules = handover.rules()
        priority = int(rules["priority"].get(reason, 9))
        if reason != "safety":
            return priority
        safety = rules["safety"]
        conversation = next(c for c in self.conversations.values() if c.id == filer.conversation_id)
        established = conversation.message_count >= int(
            safety["established_messages"]
        ) and conversation.created_at <= now - timedelta(minutes=safety["established_minutes"])
        served_first = sum(
            1
            for r in self.requests
            if r.reason == "safety"
            and r.priority == int(rules["priority"]["safety"])
            and r.requested_at > now - timedelta(minutes=safety["window_minutes"])
        )
        if established or served_first < int(safety["new_budget"]):
            return priority
        return int(safety["over_budget_priority"])

    def claim(self, filer: Filer, action: ClaimCase) -> ClaimReceipt:
        """As ``bot.status.Claims.claim`` for a claimant without a client address (the owner's
        notice of a lock is an outbox push, not part of this conversation)."""
        case_no, policy = action.case_no.strip().upper(), self.policy
        now = filer.now.astimezone(UTC)
        on_case = self._failures(lambda c: c.case_no == case_no and c.at > now - policy.case_window)
        by_claimant = self._failures(
            lambda c: (
                (c.channel, c.sender_id) == (filer.channel, filer.sender_id)
                and c.at > now - policy.claimant_window
            )
        )
        if on_case >= policy.case_failures or by_claimant >= policy.claimant_failures:
            return ClaimReceipt("locked", 0)
        case = next((c for c in self.cases if c.case_no == case_no), None)
        recorded = str((case.personal or {}).get("phone") or "") if case is not None else ""
        ok = same_phone(action.phone, recorded)
        locks = not ok and on_case + 1 >= policy.case_failures
        self.claims.append(ClaimTry(case_no, filer.channel, filer.sender_id, ok, locks, now))
        if ok:
            return ClaimReceipt(
                "claimed", policy.case_failures - on_case, self.own_case(filer, case_no)
            )
        left = min(policy.case_failures - on_case, policy.claimant_failures - by_claimant) - 1
        return ClaimReceipt("locked" if left <= 0 else "mismatch", left)

    def _failures(self, where: Any) -> int:
        return sum(1 for c in self.claims if not c.succeeded and where(c))

    def attach(self, filer: Filer, action: AttachEvidence) -> bool:
        case = self._own(filer, action.case_no)
        if case is None or not action.evidence_ids:
            return False
        for evidence_id in action.evidence_ids:
            photo = self.photos.get(evidence_id)
            if photo and photo.conversation_id == filer.conversation_id and photo.case_id is None:
                photo.case_id = case.id
        case.updated_at = filer.now.astimezone(UTC)
        return True

    # ---- the sender's own cases ----------------------------------------------------------
    def _is_own(self, filer: Filer, case: FiledCase) -> bool:
        if (case.channel, case.sender_id) == (filer.channel, filer.sender_id):
            return True
        return any(
            c.succeeded
            and c.case_no == case.case_no
            and c.channel == filer.channel
            and c.sender_id == filer.sender_id
            for c in self.claims
        )

    def _own(self, filer: Filer, case_no: str) -> FiledCase | None:
        wanted = case_no.strip().upper()
        return next((c for c in self.cases if c.case_no == wanted and self._is_own(filer, c)), None)

    def own_cases(self, filer: Filer, limit: int = 5) -> list[CaseView]:
        mine = [c for c in reversed(self.cases) if self._is_own(filer, c)]
        return [self._view(c) for c in mine[:limit]]

    def own_case(self, filer: Filer, case_no: str) -> CaseView | None:
        case = self._own(filer, case_no)
        return self._view(case) if case is not None else None

    @staticmethod
    def _view(case: FiledCase) -> CaseView:
        return CaseView(
            case_no=case.case_no,
            kind=case.kind,
            status=case.status,
            last_change=case.updated_at,
            next_deadline=case.decision_due if case.status in WAITING else None,
            merged=case.duplicate_of is not None,
        )


class OwnCases:
    """Implements ``dialogues.ports.CaseLookup`` over an office, for one sender."""

    def __init__(self, office: Office, filer: Filer) -> None:
        self.office = office
        self.filer = filer

    async def own_cases(self, *, limit: int = 5) -> list[CaseView]:
        return self.office.own_cases(self.filer, limit)

    async def own_case(self, case_no: str) -> CaseView | None:
        return self.office.own_case(self.filer, case_no)
