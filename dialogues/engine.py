"""The dialogue engine: routes a turn to the menu, a simple answer, or the active form."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from dialogues import advice, credit, handover, photo, status, subscriptions, watch
from dialogues.actions import AttachEvidence, Decision, Pending, RequestHandover
from dialogues.flows import FlowSpec, MenuItem, all_flows, is_word, mentions, menu_items
from dialogues.form import Form
from dialogues.model import Button, EvidenceRef, Question, Reply, Turn
from dialogues.ports import Ports
from dialogues.state import ConversationState
from dialogues.texts import t
from nlu.fields import detect_language, is_narrative_language

# An answer that needs no form: (turn, ports) -> replies. Issue-level features register more.
Answer = Callable[[Turn, Ports], Awaitable[list[Reply]]]
# The reply to a question an answer asked outside a form (claim digits, a certificate
# number); None means "that was not an answer to it", and the turn is routed as usual.
FollowUp = Callable[[Turn, Ports, dict[str, Any]], Awaitable[list[Reply] | None]]
QUESTION_CUE = re.compile(
    r"[?？]|吗|么$|呢$|怎么|怎样|如何|什么|哪|多久|多少|几天|能不能|可不可以|要不要|需不需要|"
    r"是不是|有没有|算不算|会不会|how|what|when|which|why|can i|do i|is it|does",
    re.I,
)
# Intents that interrupt any step, question cue or not.
ALWAYS_DIGRESS = frozenset({"human_handoff"})
MISSES_BEFORE_HANDOVER = 2
MAX_LOOSE_PHOTOS = 9


async def _help(turn: Turn, ports: Ports) -> list[Reply]:
    return [Reply(t(turn.lang, "help.text"))]


def default_answers() -> dict[str, Answer]:
    """Answers by intent and by menu item name (``status``, ``handover``, ``ccc_check``)."""
    return {
        "help": _help,
        "case_status": status.status,
        "status": status.status,
        "human_handoff": handover.request,
        "handover": handover.request,
        "check_ccc_cert": advice.check_ccc_cert,
        "ccc_check": advice.check_ccc_cert,
        "ask_ccc_required": advice.ask_ccc_required,
        "ask_identify_fake": advice.knowledge,
        "ask_process": advice.knowledge,
        "ask_compensation": advice.ask_compensation,
        "ask_reward": advice.ask_reward,
        "photo_check": photo.invite,
    }


FOLLOW_UPS: dict[str, FollowUp] = {
    "claim": status.claim,
    "ccc_number": advice.ccc_number,
    "business_id": credit.business_id,
    watch.EXPECT: watch.follow_up,
}


class Engine:
    """Stateless between calls: everything it remembers lives in the state dict it returns."""

    def __init__(
        self,
        flows: dict[str, FlowSpec] | None = None,
        answers: dict[str, Answer] | None = None,
        digression_confidence: float = 0.75,
    ) -> None:
        self.flows = flows if flows is not None else all_flows()
        self.answers: dict[str, Answer] = {**default_answers(), **(answers or {})}
        self.digression_confidence = digression_confidence

    # ---- menu --------------------------------------------------------------------------
    def available(self) -> list[MenuItem]:
        return [m for m in menu_items() if m.flow in self.flows or m.flow in self.answers]

    def menu(self, lang: str, greet: bool = False) -> list[Reply]:
        items = self.available()
        lines = [t(lang, "menu.greeting")] if greet else []
        lines.append(t(lang, "menu.prompt"))
        lines += [f"{i}. {t(lang, m.title)}" for i, m in enumerate(items, start=1)]
        buttons = [Button(t(lang, m.title), m.payload) for m in items]
        return [Reply("\n".join(lines), buttons)]

    def _menu_payload(self, text: str) -> MenuItem | None:
        return next((item for item in self.available() if text == item.payload), None)

    def _menu_choice(self, text: str) -> MenuItem | None:
        items = self.available()
        for item in items:
            if text == item.payload:
                return item
        # isdecimal, not isdigit: int() refuses "²" and "①", which isdigit accepts
        if text.isdecimal() and len(text) <= 3 and 1 <= int(text) <= len(items):
            return items[int(text) - 1]
        return None

    # ---- entry -------------------------------------------------------------------------
    async def decide(
        self,
        stored: ConversationState | Mapping[str, Any] | None,
        turn: Turn,
        ports: Ports,
    ) -> Decision:
        """The new state, the replies and the actions for one turn; nothing is written.

        ``ports`` only read (knowledge, the registry, the sender's own cases). Replies that
        depend on what an action does wait for its receipt (``dialogues.actions``)."""
        state = ConversationState.load(stored)  # a copy: the caller's is never changed
        turn = self._language(state, turn)
        misses, state.misses, state.missed = state.misses, 0, False
        items = self._safety(state, turn)
        if not items or state.form is not None:
            items += await self._route(state, turn, ports)
        self._absorb(state, items)
        if state.missed:
            state.missed = False
            misses += 1
            queued = state.handover_request is not None or any(
                isinstance(i, Pending) and isinstance(i.action, RequestHandover) for i in items
            )
            if misses >= MISSES_BEFORE_HANDOVER and not queued:
                items += handover.queue(turn, "not_understood", turn.text)
                misses = 0
        state.misses = misses
        return Decision(state, items, self._finish)

    def _finish(self, state: ConversationState, replies: list[Reply]) -> None:
        """Once receipts are rendered: keep the questions they ask, and tell every reply
        which question is open (channels show it; load tests check it)."""
        self._absorb(state, replies)
        flow = state.form.flow if state.form else None
        awaiting = state.form.step if state.form else None
        for reply in replies:
            reply.custom.setdefault("flow", flow)
            reply.custom.setdefault("awaiting", awaiting)
            reply.custom.setdefault("case_no", None)

    def _absorb(self, state: ConversationState, items: Sequence[Reply]) -> None:
        """A question an answer asked (``Question``) is what the next message answers."""
        for reply in items:
            if isinstance(reply, Question):
                state.expect = reply.expect

    def _safety(self, state: ConversationState, turn: Turn) -> list[Reply]:
        """Injury, fire, poisoning…: queue for a person at once, whatever else is going on."""
        if turn.kind != "text" or state.handover_request is not None:
            return []
        word = mentions("safety", turn.text)
        if word is None:
            return []
        return [
            Reply(t(turn.lang, "handover.safety_advice")),
            *handover.queue(turn, "safety", turn.text),
        ]

    def _language(self, state: ConversationState, turn: Turn) -> Turn:
        """The user's language: asked for by name, else the language of the text (a form's
        short answers, a name or a brand, do not switch it), else the channel's locale."""
        text = turn.text.strip()
        detected = detect_language(text) if turn.kind == "text" else None
        if state.form is not None and detected is not None and not is_narrative_language(text):
            detected = None
        if is_word("english", text):
            state.lang = "en"
        elif is_word("chinese", text):
            state.lang = "zh"
        elif detected is not None:
            state.lang = detected
        lang = state.lang = state.lang or turn.lang
        if lang == turn.lang:
            return turn
        return dataclasses.replace(turn, lang=lang)

    async def _route(self, state: ConversationState, turn: Turn, ports: Ports) -> list[Reply]:
        text = (turn.payload or turn.text).strip()
        if state.handover_request is not None and (
            text == handover.CANCEL_PAYLOAD or (state.form is None and is_word("cancel", text))
        ):
            state.handover_request = None
            return handover.cancel(turn)
        if turn.kind == "reading":
            # A photo's reading, back from the reader: never an answer to a form's step.
            loose = await self._loose_buttons(turn, ports) if state.loose_evidence else []
            return await photo.on_reading(state, turn, ports, loose)
        flow = self.flows.get(state.form.flow) if state.form else None
        if flow is not None:
            return await self._in_form(flow, state, turn, ports, text)
        if turn.kind == "text" and photo.listing.looks_like_listing(turn.text):
            state.expect = None
            return await photo.check_listing(state, turn, ports)
        expect, state.expect = state.expect, None
        if expect is not None and turn.kind in {"text", "button"}:
            if expect.answer == "photo_confirm":
                answered = await photo.confirmed(state, turn, ports, expect.data)
            else:
                answered = await FOLLOW_UPS[expect.answer](turn, ports, expect.data)
            if answered is not None:
                return answered
        # Watching a certificate (dialogues/watch.py): the button, or "关注证书 <number>".
        watched = await watch.route(turn, text, ports)
        if watched is not None:
            return watched
        # Safety-alert subscriptions: subscribe, list, unsubscribe (dialogues/subscriptions.py).
        subscribed = subscriptions.route(state, turn, text)
        if subscribed is not None:
            return subscribed
        if turn.kind == "photo" and turn.evidence is not None:
            return await self._loose_photo(state, turn, ports, turn.evidence)
        if text.startswith(photo.CHECKED):
            return await self._checked(state, turn, ports, text.removeprefix(photo.CHECKED))
        if turn.kind == "text" and photo.asks_for_check(text):
            return await photo.invite(turn, ports)
        if turn.kind not in {"text", "button", "event"}:
            return [Reply(t(turn.lang, "common.unsupported_kind"))] + self.menu(turn.lang)
        if is_word("english", text) or is_word("chinese", text):
            return self.menu(turn.lang, greet=True)
        if text.startswith("/link:") or text.startswith("/attach:"):
            return await self._follow_button(state, turn, ports, text)
        if is_word("cancel", text):
            return [Reply(t(turn.lang, "common.nothing_to_cancel"))] + self.menu(turn.lang)
        if is_word("menu", text) or turn.intent == "greet" or turn.kind == "event":
            return self.menu(turn.lang, greet=True)
        item = self._menu_choice(text)
        if item is not None:
            return await self._start(item.flow, state, turn, ports)
        # Outside the regulator's remit (tobacco → 12313): the right door, not a complaint.
        referred = await advice.referral(turn, ports)
        if referred is not None:
            return referred + self.menu(turn.lang)
        if turn.intent not in {"complain", "report"} and credit.wants_check(text):
            return await credit.check_business(turn, ports) + self.menu(turn.lang)
        started = self._flow_for(turn, text)
        if started is not None:
            return await self._start(started, state, turn, ports)
        if turn.intent in self.answers and turn.confidence >= self.digression_confidence * 0.8:
            return await self.answers[turn.intent](turn, ports) + self.menu(turn.lang)
        # No intent placed it: the knowledge base may still know it by meaning.
        found = await advice.by_meaning(turn, ports)
        if found is not None:
            return found + self.menu(turn.lang)
        state.missed = True
        if text.isdigit() and len(text) <= 2:
            return [Reply(t(turn.lang, "menu.number_unknown", number=text))] + self.menu(turn.lang)
        return [Reply(t(turn.lang, "common.not_understood"))] + self.menu(turn.lang)

    async def _loose_photo(
        self, state: ConversationState, turn: Turn, ports: Ports, evidence: EvidenceRef
    ) -> list[Reply]:
        """A photo outside a form is kept; ask which report or complaint it belongs to."""
        loose = state.loose_evidence
        if len(loose) >= MAX_LOOSE_PHOTOS:
            return [Reply(t(turn.lang, "photos.loose_limit", max=MAX_LOOSE_PHOTOS))]
        loose.append(evidence.id)
        buttons = await self._loose_buttons(turn, ports)
        if ports.photos is not None:
            return [photo.read(turn, evidence, len(loose), buttons)]
        sha = evidence.sha256[:12]
        return [
            Reply(t(turn.lang, "common.photo_outside_flow", sha=sha, count=len(loose)), buttons)
        ]

    async def _loose_buttons(self, turn: Turn, ports: Ports) -> list[Button]:
        """Where loose photos can go: a new complaint or report, or one of the user's cases."""
        buttons = [
            Button(t(turn.lang, "photos.new_complaint"), "/complaint"),
            Button(t(turn.lang, "photos.new_report"), "/report"),
        ]
        if ports.lookup is not None:
            for view in await ports.lookup.own_cases(limit=3):
                buttons.append(
                    Button(
                        t(turn.lang, "photos.attach", case_no=view.case_no),
                        f"/attach:{view.case_no}",
                    )
                )
        return buttons

    async def _checked(
        self, state: ConversationState, turn: Turn, ports: Ports, step: str
    ) -> list[Reply]:
        """A check's one-tap next step: a prefilled report or complaint, or the takedown text."""
        if step == "takedown":
            return photo.takedown(state, turn.lang)
        if state.checked is None or step not in self.flows:
            return [Reply(t(turn.lang, "photo.nothing_checked"))] + self.menu(turn.lang)
        carried = state.checked.report if step == "report" else state.checked.complaint
        photos, state.loose_evidence = state.loose_evidence[:MAX_LOOSE_PHOTOS], []
        state.end_form()
        return Form(self.flows[step], state, turn, ports).start(carried=carried, photos=photos)

    async def _follow_button(
        self, state: ConversationState, turn: Turn, ports: Ports, text: str
    ) -> list[Reply]:
        """``/link:<flow>`` (linked case offered after submission) and ``/attach:<case>``."""
        if text.startswith("/attach:"):
            loose, state.loose_evidence = state.loose_evidence, []
            case_no = text.removeprefix("/attach:")
            lang = turn.lang

            def attached(done: bool, state: ConversationState) -> list[Reply]:
                if not done and loose:
                    state.loose_evidence = loose
                key = "photos.attached" if done else "photos.not_attached"
                return [Reply(t(lang, key, case_no=case_no, count=len(loose)))]

            if not loose:
                return [attached(False, state)[0], *self.menu(lang)]
            return [Pending(AttachEvidence(case_no, tuple(loose)), attached), *self.menu(lang)]
        offer, state.offer = state.offer, None
        name = text.removeprefix("/link:")
        if offer is None or offer.flow != name or name not in self.flows:
            return self.menu(turn.lang)
        form = Form(self.flows[name], state, turn, ports)
        started = form.start(carried=offer.carry, link_to=offer.link_to)
        return [Reply(t(turn.lang, "common.linked_start", case_no=offer.link_to)), *started]

    def _flow_for(self, turn: Turn, text: str) -> str | None:
        for flow in self.flows.values():
            if text in flow.start_payloads:
                return flow.name
            if turn.intent in flow.start_intents and turn.confidence >= 0.5:
                return flow.name
        return None

    async def _start(
        self, name: str, state: ConversationState, turn: Turn, ports: Ports
    ) -> list[Reply]:
        if name in self.flows:
            state.end_form()
            photos, state.loose_evidence = state.loose_evidence[:MAX_LOOSE_PHOTOS], []
            return Form(self.flows[name], state, turn, ports).start(photos=photos)
        return await self.answers[name](turn, ports) + self.menu(turn.lang)

    async def _in_form(
        self, flow: FlowSpec, state: ConversationState, turn: Turn, ports: Ports, text: str
    ) -> list[Reply]:
        form = Form(flow, state, turn, ports)
        cancelling, form.form.cancelling = form.form.cancelling, False
        # "要放弃吗？" – 算了 / 不要了 / 是 give up; 不 / 继续 go on.
        if cancelling and (
            text == "/continue" or is_word("no", text) or text in {"继续", "continue"}
        ):
            return [Reply(t(turn.lang, "common.resume"))] + form.repeat()
        if cancelling and (text == "/abandon" or is_word("yes", text) or text == "放弃"):
            state.end_form()
            return [Reply(t(turn.lang, "common.cancelled"))] + self.menu(turn.lang)
        if self._is_cancel(turn, text) and not form.answers_no(text):
            if cancelling or not form.has_answers():
                state.end_form()
                return [Reply(t(turn.lang, "common.cancelled"))] + self.menu(turn.lang)
            form.form.cancelling = True
            return [form.cancel_question()]
        greeting = turn.intent == "greet" and turn.confidence >= 0.8 and not form.reads_a_field()
        if is_word("menu", text) or greeting:
            return [Reply(t(turn.lang, "common.resume"))] + form.repeat()
        if turn.kind not in {"text", "button", "photo"}:
            return [Reply(t(turn.lang, "common.unsupported_kind"))] + form.repeat()
        item = self._menu_payload(text) if turn.kind == "button" else None
        if item is not None:
            # A menu button pressed mid-form (an old message's): never an answer to the step.
            if item.flow in self.answers:
                answered = await self.answers[item.flow](turn, ports)
                answered = [a if not isinstance(a, Question) else a.plain() for a in answered]
                return answered + [Reply(t(turn.lang, "common.resume"))] + form.repeat()
            return [Reply(t(turn.lang, "common.resume"))] + form.repeat()
        if text.startswith(photo.FILL):
            taken = photo.take_fill(state, text)
            if not taken:
                return form.repeat()
            current = state.form.step if state.form else None
            form.slots.update(taken)
            said = [Reply(t(turn.lang, "photo.filled"))]
            return form.advance(said) if current in taken else said + form.repeat()
        digression = None if form.says_unknown(text) else self._digression(turn, flow, state)
        if digression is not None:
            answered = await digression(turn, ports)
            # The form's question is the pending one, not any the answer asked.
            answered = [a if not isinstance(a, Question) else a.plain() for a in answered]
            return answered + [Reply(t(turn.lang, "common.resume"))] + form.repeat()
        replies = await form.handle()
        if turn.kind == "photo" and turn.evidence is not None and ports.photos is not None:
            replies.append(photo.read_quietly(turn.evidence))
        return replies

    def _is_cancel(self, turn: Turn, text: str) -> bool:
        if text == "/cancel" or is_word("cancel", text):
            return True
        return turn.intent == "cancel" and turn.confidence >= 0.8 and len(text) <= 8

    def _digression(self, turn: Turn, flow: FlowSpec, state: ConversationState) -> Answer | None:
        """A question asked mid-form, answered before the pending question is repeated."""
        if turn.kind != "text" or turn.intent not in self.answers:
            return None
        if turn.confidence < self.digression_confidence:
            return None
        if turn.intent in ALWAYS_DIGRESS:
            return self.answers[turn.intent]
        # Without a question cue the text is an answer to the step ("退款并赔偿", "京东").
        if not QUESTION_CUE.search(turn.text):
            return None
        return self.answers[turn.intent]
