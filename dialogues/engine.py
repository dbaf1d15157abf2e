"""The dialogue engine: routes a turn to the menu, a simple answer, or the active form."""

from __future__ import annotations

import copy
import re
from collections.abc import Awaitable, Callable
from typing import Any

from dialogues.flows import FlowSpec, MenuItem, all_flows, is_word, menu_items
from dialogues.form import Form
from dialogues.model import Button, Outcome, Reply, Turn
from dialogues.ports import Ports
from dialogues.texts import t

# An answer that needs no form: (turn, ports) -> replies. Issue-level features register more.
Answer = Callable[[Turn, Ports], Awaitable[list[Reply]]]
QUESTION_CUE = re.compile(
    r"[?？]|吗|怎么|如何|什么|哪|多久|能不能|可以.*吗|how|what|when|can i", re.I
)


async def _help(turn: Turn, ports: Ports) -> list[Reply]:
    return [Reply(t(turn.lang, "help.text"))]


class Engine:
    """Stateless between calls: everything it remembers lives in the state dict it returns."""

    def __init__(
        self,
        flows: dict[str, FlowSpec] | None = None,
        answers: dict[str, Answer] | None = None,
        digression_confidence: float = 0.75,
    ) -> None:
        self.flows = flows if flows is not None else all_flows()
        self.answers: dict[str, Answer] = {"help": _help, **(answers or {})}
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

    def _menu_choice(self, text: str) -> MenuItem | None:
        items = self.available()
        for item in items:
            if text == item.payload:
                return item
        if text.isdigit() and 1 <= int(text) <= len(items):
            return items[int(text) - 1]
        return None

    # ---- entry -------------------------------------------------------------------------
    async def handle(self, state: dict[str, Any], turn: Turn, ports: Ports) -> Outcome:
        state = copy.deepcopy(state)
        turn = self._language(state, turn)
        replies = await self._route(state, turn, ports)
        flow = state.get("flow")
        awaiting = state.get("step") if flow else None
        for reply in replies:
            reply.custom.setdefault("flow", flow)
            reply.custom.setdefault("awaiting", awaiting)
            reply.custom.setdefault("case_no", None)
        return Outcome(replies=replies, state=state)

    def _language(self, state: dict[str, Any], turn: Turn) -> Turn:
        text = turn.text.strip()
        if is_word("english", text):
            state["lang"] = "en"
        elif is_word("chinese", text):
            state["lang"] = "zh"
        lang = state.setdefault("lang", turn.lang)
        if lang == turn.lang:
            return turn
        return Turn(
            kind=turn.kind,
            text=turn.text,
            now=turn.now,
            lang=lang,
            parse=turn.parse,
            evidence=turn.evidence,
            payload=turn.payload,
        )

    async def _route(self, state: dict[str, Any], turn: Turn, ports: Ports) -> list[Reply]:
        text = (turn.payload or turn.text).strip()
        flow = self.flows.get(state.get("flow") or "")
        if flow is not None:
            return await self._in_form(flow, state, turn, ports, text)
        if turn.kind == "photo" and turn.evidence is not None:
            sha = turn.evidence.sha256[:12]
            state.setdefault("loose_evidence", []).append(turn.evidence.id)
            return [Reply(t(turn.lang, "common.photo_outside_flow", sha=sha))] + self.menu(
                turn.lang
            )
        if turn.kind not in {"text", "button", "event"}:
            return [Reply(t(turn.lang, "common.unsupported_kind"))] + self.menu(turn.lang)
        if is_word("english", text) or is_word("chinese", text):
            return self.menu(turn.lang, greet=True)
        if is_word("cancel", text):
            return [Reply(t(turn.lang, "common.nothing_to_cancel"))] + self.menu(turn.lang)
        if is_word("menu", text) or turn.intent == "greet" or turn.kind == "event":
            return self.menu(turn.lang, greet=True)
        item = self._menu_choice(text)
        if item is not None:
            return await self._start(item.flow, state, turn, ports)
        started = self._flow_for(turn, text)
        if started is not None:
            return await self._start(started, state, turn, ports)
        if turn.intent in self.answers and turn.confidence >= self.digression_confidence * 0.8:
            return await self.answers[turn.intent](turn, ports) + self.menu(turn.lang)
        if text.isdigit() and len(text) <= 2:
            return [Reply(t(turn.lang, "menu.number_unknown", number=text))] + self.menu(turn.lang)
        return [Reply(t(turn.lang, "common.not_understood"))] + self.menu(turn.lang)

    def _flow_for(self, turn: Turn, text: str) -> str | None:
        for flow in self.flows.values():
            if text in flow.start_payloads:
                return flow.name
            if turn.intent in flow.start_intents and turn.confidence >= 0.5:
                return flow.name
        return None

    async def _start(
        self, name: str, state: dict[str, Any], turn: Turn, ports: Ports
    ) -> list[Reply]:
        if name in self.flows:
            form = Form(self.flows[name], state, turn, ports)
            return form.start()
        return await self.answers[name](turn, ports) + self.menu(turn.lang)

    async def _in_form(
        self, flow: FlowSpec, state: dict[str, Any], turn: Turn, ports: Ports, text: str
    ) -> list[Reply]:
        form = Form(flow, state, turn, ports)
        if self._is_cancel(turn, text):
            for key in ("flow", "step", "slots", "photos", "correcting", "pending_choices"):
                state.pop(key, None)
            return [Reply(t(turn.lang, "common.cancelled"))] + self.menu(turn.lang)
        if is_word("menu", text) or (turn.intent == "greet" and turn.confidence >= 0.8):
            return [Reply(t(turn.lang, "common.resume"))] + form.repeat()
        if turn.kind not in {"text", "button", "photo"}:
            return [Reply(t(turn.lang, "common.unsupported_kind"))] + form.repeat()
        digression = self._digression(turn, flow, state)
        if digression is not None:
            return (
                await digression(turn, ports)
                + [Reply(t(turn.lang, "common.resume"))]
                + form.repeat()
            )
        return await form.handle()

    def _is_cancel(self, turn: Turn, text: str) -> bool:
        if text == "/cancel" or is_word("cancel", text):
            return True
        return turn.intent == "cancel" and turn.confidence >= 0.8 and len(text) <= 8

    def _digression(self, turn: Turn, flow: FlowSpec, state: dict[str, Any]) -> Answer | None:
        """A question asked mid-form, answered before the pending question is repeated."""
        if turn.kind != "text" or turn.intent not in self.answers:
            return None
        if turn.confidence < self.digression_confidence:
            return None
        step = state.get("step")
        free_text = flow.has_step(step or "") and flow.step(step or "").type == "text"
        if free_text and not QUESTION_CUE.search(turn.text):
            return None
        return self.answers[turn.intent]
