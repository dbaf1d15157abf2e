"""The form runner: asks a flow's steps one at a time, validates, summarises, submits."""

from __future__ import annotations

from typing import Any

from dialogues.actions import Pending, SubmitCase
from dialogues.explain import EXPLAINERS
from dialogues.flows import FlowSpec, StepSpec, is_word
from dialogues.form_reading import CUED, Reading, free_answer, is_narrative, read
from dialogues.model import Button, Reply, Turn
from dialogues.ports import CaseReceipt, Ports
from dialogues.slots import Accepted, Rejected, Verdict, choices_in, entity_value, validate
from dialogues.state import ConversationState, FormState, Offer
from dialogues.texts import has, t
from nlu.fields import is_correction, says_unknown
from nlu.identifiers import names_a_phone
from nlu.lexicon import english_names

SUMMARY = "confirm"
PICK_FIELD = "pick_field"


def declines(step: StepSpec, text: str) -> bool:
    """不用了 / no thanks to a question that may be skipped: it is skipped (算了, 不要了 still
    cancel the form, asking first)."""
    return bool(step.skip_button) and is_word("soft_no", text) and not is_word("cancel", text)


class Form:
    """One active form: a flow spec plus the conversation state it reads and writes."""

    def __init__(self, flow: FlowSpec, state: ConversationState, turn: Turn, ports: Ports) -> None:
        self.flow = flow
        self.state = state
        self.turn = turn
        self.ports = ports
        self.lang = turn.lang
        if state.form is None or state.form.flow != flow.name:
            state.form = FormState(flow.name)
        self.form: FormState = state.form
        self.slots: dict[str, Any] = self.form.slots

    # ---- texts and buttons -------------------------------------------------------------
    def say(self, key: str, **values: Any) -> str:
        return t(self.lang, key, **values)

    def cancel_button(self) -> Button:
        return Button(self.say("button.cancel"), "/cancel")

    # ---- leaving -----------------------------------------------------------------------
    def has_answers(self) -> bool:
        return any(v not in (None, "") for v in self.slots.values()) or bool(self.form.photos)

    def answers_no(self, text: str) -> bool:
        """不用了 / 算了 in a yes/no question mean no, not "cancel the form"; 不用了 to a
        question that may be skipped (an ID document) skips it."""
        step = self.form.step
        if step in (None, SUMMARY, PICK_FIELD) or not self.flow.has_step(str(step)):
            return False
        spec = self.flow.step(str(step))
        if spec.type == "yesno":
            return is_word("soft_no", text) or is_word("no", text)
        return declines(spec, text)

    def reads_a_field(self) -> bool:
        """Whether the message gives a field a value (Nike is a brand, whatever a model's
        intent says)."""
        return self.turn.kind == "text" and bool(read(self.flow, self.slots, self.turn).values)

    def says_unknown(self, text: str) -> bool:
        """不知道是什么牌子 answers a field that may be left empty; it is not a question."""
        step = self.form.step
        if step in (None, SUMMARY, PICK_FIELD) or not self.flow.has_step(str(step)):
            return False
        return bool(self.flow.step(str(step)).skip_button) and says_unknown(text)

    def cancel_question(self) -> Reply:
        title = self.say(self.flow.title)
        buttons = [
            Button(self.say("form.button.abandon"), "/abandon"),
            Button(self.say("form.button.continue"), "/continue"),
        ]
        return Reply(self.say("form.cancel_confirm", title=title), buttons)

    # ---- entry points ------------------------------------------------------------------
    def start(
        self,
        carried: dict[str, Any] | None = None,
        photos: list[int] | None = None,
        link_to: str | None = None,
    ) -> list[Reply]:
        """Begin the form; ``carried`` slots and the case to ``link_to`` (a linked case) and
        loose ``photos`` are kept."""
        self.form = FormState(
            self.flow.name, slots=dict(carried or {}), photos=list(photos or []), link_to=link_to
        )
        self.state.form = self.form
        self.slots = self.form.slots
        kept = self.keep(read(self.flow, self.slots, self.turn))
        self.keep_story(self.turn.text if self.turn.kind == "text" else "")
        intro = [Reply(self.say(self.flow.intro))] if self.flow.intro else []
        return intro + self.advance([Reply(self.noted(kept))] if kept else None)

    def keep(self, reading: Reading, skip: str | None = None) -> dict[str, Any]:
        """Fill the still-empty fields a message clearly answered; what was kept."""
        kept = {
            slot: value
            for slot, value in reading.values.items()
            if slot != skip
            and value not in (None, "")
            and (slot not in self.slots or (self.slots[slot] == "" and reading.kinds[slot] in CUED))
        }
        self.slots.update(kept)
        if "id_number" in kept and self.flow.has_step("id_type") and "id_type" not in self.slots:
            # Only a resident ID is found in free text (its checksum tells it apart).
            self.slots["id_type"] = "resident_id"
        return kept

    def keep_story(self, text: str) -> bool:
        """The user's own story goes into the facts, joined with what is there already."""
        slot = self.flow.story
        text = text.strip()
        if slot is None or not is_narrative(text, self.turn):
            return False
        before = str(self.slots.get(slot) or "")
        if text in before:
            return True
        joined = f"{before}\n{text}" if before else text
        self.slots[slot] = joined[: self.flow.step(slot).max_len]
        return True

    def noted(self, kept: dict[str, Any]) -> str:
        items = "、".join(
            self.say(
                "form.item",
                label=self.say(self.flow.step(slot).label),
                value=self.display(self.flow.step(slot)),
            )
            for slot in kept
        )
        return self.say("form.noted", items=items)

    async def handle(self) -> list[Reply]:
        step = self.form.step
        if step == SUMMARY:
            return await self.on_summary()
        if step == PICK_FIELD:
            return self.on_pick_field()
        return self.on_answer(self.flow.step(str(step)))

    def repeat(self) -> list[Reply]:
        """The pending question again (after a digression or a resume)."""
        step = self.form.step
        if step == SUMMARY:
            return self.summary()
        if step == PICK_FIELD:
            return self.pick_field()
        return [self.ask(self.flow.step(str(step)))]

    # ---- asking ------------------------------------------------------------------------
    def applicable(self) -> list[StepSpec]:
        """The steps that apply given the answers so far (``when`` conditions)."""
        return [s for s in self.flow.steps if s.applies(self.slots)]

    def next_step(self) -> StepSpec | None:
        return next((s for s in self.applicable() if s.slot not in self.slots), None)

    def advance(self, before: list[Reply] | None = None) -> list[Reply]:
        replies = list(before or [])
        # After a correction, newly applicable steps (e.g. real name chosen) are asked too.
        self.form.correcting = None
        step = self.next_step()
        if step is None:
            return replies + self.summary()
        self.form.step = step.slot
        return replies + [self.ask(step)]

    def ask(self, step: StepSpec, prefix: str | None = None) -> Reply:
        key = f"{self.flow.name}.ask.{step.slot}"
        if step.type == "photos":
            text = self.say(key, max=step.max)
        elif step.type == "secret":
            text = self.say(key, min=step.min_len, max=step.max_len)
        else:
            text = self.say(key)
        explainer = EXPLAINERS.get(step.explain or "")
        if explainer is not None:
            text = f"{explainer(self.lang, self.ports)}\n{text}"
        if prefix:
            text = f"{prefix}\n{text}"
        return Reply(text, self.buttons_for(step))

    def buttons_for(self, step: StepSpec) -> list[Button]:
        buttons: list[Button] = []
        if step.type == "choice" and step.labelled:
            buttons = [
                Button(self.say(f"{self.flow.name}.{step.slot}.{c}"), f"/choice:{c}")
                for c in step.choices
            ]
        elif step.type == "choice":
            buttons = [Button(c, c) for c in step.choices]
        elif step.type == "multichoice":
            pending = self.form.pending_choices
            buttons = [
                Button(self.say(f"{step.slot}.{c}"), f"/choice:{c}")
                for c in step.choices
                if c not in pending
            ]
            if pending:
                buttons.append(Button(self.say(f"{step.slot}.done"), "/done"))
        elif step.type == "yesno":
            own = f"{self.flow.name}.{step.slot}.yes"
            yes, no = (own, own[:-3] + "no") if has(self.lang, own) else ("button.yes", "button.no")
            buttons = [Button(self.say(yes), "/yes"), Button(self.say(no), "/no")]
        elif step.type == "photos":
            buttons = [
                Button(self.say("button.done"), "/done"),
                Button(self.say("button.skip"), "/skip"),
            ]
        if step.skip_button:
            buttons.append(
                Button(self.say(f"{self.flow.name}.{step.skip_button.split('.', 1)[1]}"), "/skip")
            )
        return [*buttons, self.cancel_button()]

    def offered(self, step: StepSpec, payload: str) -> bool:
        """Whether a button payload can answer ``step`` (its own buttons, any of its choices)."""
        if payload.startswith("/choice:"):
            return step.type in {"choice", "multichoice"}
        return payload in {b.payload for b in self.buttons_for(step)} | {"/done"}

    # ---- answering ---------------------------------------------------------------------
    def on_answer(self, step: StepSpec) -> list[Reply]:
        if self.turn.kind == "photo":
            return self.on_photo(step)
        if self.turn.kind == "text" and step.shape != "story":
            corrected = self.on_correction(step, read(self.flow, self.slots, self.turn))
            if corrected is not None:
                return corrected
        payload = self.turn.payload if self.turn.kind == "button" else None
        if payload and payload.startswith("/") and not self.offered(step, payload):
            # A button of another question (or a command typed as one) is not this answer.
            self.state.missed = True
            return [self.ask(step, self.say("common.not_understood_in_flow"))]
        if payload and step.type == "text" and payload != "/skip":
            self.state.missed = True
            return [self.ask(step, self.say("common.not_understood_in_flow"))]
        if step.type == "photos":
            return self.on_photos_text(step)
        if step.type == "multichoice" and not self.turn.payload == "/done":
            return self.on_multichoice(step)
        if step.type == "multichoice":
            pending, self.form.pending_choices = self.form.pending_choices, []
            if not pending:
                return [self.ask(step, self.say("invalid.demand"))]
            self.slots[step.slot] = pending
            return self.advance()
        if step.type == "secret":
            # A password is only the answer it is: never read for other fields or a story.
            self.state.secret_turn = True
        elif self.turn.kind == "text":
            return self.on_text(step)
        verdict = validate(self.flow, step, self.turn, self.ports.normalizer, self.lang, self.slots)
        if isinstance(verdict, Rejected):
            return [self.ask(step, self.say(verdict.key, **verdict.values))]
        if step.type == "secret":
            if self.ports.hash_secret is None:
                raise RuntimeError("a secret step needs ports.hash_secret")
            self.slots[step.slot] = self.ports.hash_secret(str(verdict.value))
            return self.advance()
        self.slots[step.slot] = verdict.value
        self.slots.update(verdict.also)
        return self.advance()

    def on_text(self, step: StepSpec) -> list[Reply]:
        """A typed answer, read for every field: the one asked, others it clearly gives, a
        correction of an earlier one, or the user's story."""
        reading = read(self.flow, self.slots, self.turn, asked=step)
        if step.shape == "story" and len(self.turn.text) <= 40:
            # A story may say 错了 of anything; only a short message corrects a field.
            corrected = self.on_correction(step, reading)
            if corrected is not None:
                return corrected
        verdict = self.answer(step, reading)
        if isinstance(verdict, Accepted):
            self.slots[step.slot] = verdict.value
            self.slots.update(verdict.also)
            kept = self.keep(reading, skip=step.slot)
            if step.shape != "story" and len(self.turn.text) > 20:
                self.keep_story(self.turn.text)
            return self.advance([Reply(self.noted(kept))] if kept else None)
        kept = self.keep(reading, skip=step.slot)
        if kept:
            return [self.ask(step, self.noted(kept))]
        if step.shape != "story" and self.keep_story(self.turn.text):
            return [self.ask(step, self.say("form.story_noted"))]
        return [self.ask(step, self.say(verdict.key, **verdict.values))]

    def answer(self, step: StepSpec, reading: Reading) -> Verdict:
        """Whether the text answers ``step`` itself (only what clearly does)."""
        text = self.turn.text.strip()
        if declines(step, text):
            return Accepted("")
        found = reading.values.get(step.slot)
        if step.type == "text":
            # Alone in the text, the user's own words are kept (蓝牙耳机, Sony); with other
            # fields beside it, the part that is this field.
            alone = set(reading.values) <= {step.slot} and step.shape != "brand"
            if found not in (None, "") and not (alone and free_answer(step, text, reading)[0]):
                return Accepted(found)
            ok, value = free_answer(step, text, reading)
            if ok and value == "":
                return Accepted("")  # 不知道 / 没有 for a field that may be left empty
            if not ok:
                return Rejected(
                    f"invalid.{step.shape}"
                    if step.shape in {"order_no", "model_no"}
                    else "common.not_understood_in_flow"
                )
            return validate(
                self.flow,
                step,
                self._with_text(str(value)),
                self.ports.normalizer,
                self.lang,
                self.slots,
            )
        if step.type == "choice" and step.allow_other and not step.labelled:
            if found:
                return Accepted(str(found))
            if reading.values:
                return Rejected("invalid.choice")
        if step.type == "amount" and isinstance(found, int | float) and found > 0:
            return Accepted(found)
        verdict = validate(self.flow, step, self.turn, self.ports.normalizer, self.lang, self.slots)
        if isinstance(verdict, Rejected) and reading.spans and step.type == "name":
            # A name beside other fields is one clause of its own (My name is Lin Mei, phone …).
            for clause in reading.clauses(text):
                if names_a_phone(clause):
                    continue
                retry = validate(
                    self.flow, step, self._with_text(clause), self.ports.normalizer, self.lang
                )
                if isinstance(retry, Accepted):
                    return retry
        if isinstance(verdict, Rejected) and reading.spans:
            rest = reading.rest(text)
            if rest and rest != text:
                retry = validate(
                    self.flow,
                    step,
                    self._with_text(rest),
                    self.ports.normalizer,
                    self.lang,
                    self.slots,
                )
                if isinstance(retry, Accepted):
                    return retry
        return verdict

    def _with_text(self, text: str) -> Turn:
        turn = self.turn
        return Turn(kind=turn.kind, text=text, now=turn.now, lang=turn.lang, parse=None)

    def on_correction(self, step: StepSpec | None, reading: Reading) -> list[Reply] | None:
        """ "不对，金额是 399" while another field is asked: change it and say so."""
        text = self.turn.text
        if not is_correction(text):
            return None
        named = self.field_named(text)
        target = named if named is not None and named.slot in self.slots else None
        if target is None:
            changed = [
                slot
                for slot, value in reading.values.items()
                if slot in self.slots
                and (step is None or slot != step.slot)
                and self.slots[slot] != value
            ]
            target = self.flow.step(changed[0]) if len(changed) == 1 else None
        if target is None or (step is not None and target.slot == step.slot):
            return None
        value = reading.values.get(target.slot)
        if value in (None, "") or value == self.slots.get(target.slot):
            return self.correct(target)
        self.slots[target.slot] = value
        shown = self.display(target)
        updated = self.say("form.updated", label=self.say(target.label), value=shown)
        if step is None:
            return [Reply(updated), *self.summary()]
        return [self.ask(step, updated)]

    def on_multichoice(self, step: StepSpec) -> list[Reply]:
        text = (self.turn.payload or self.turn.text).strip()
        chosen = choices_in(self.flow, step, text)
        if not chosen:
            return [self.ask(step, self.say("invalid.demand"))]
        if self.turn.payload and self.turn.payload.startswith("/choice:"):
            pending = self.form.pending_choices
            pending.extend(c for c in chosen if c not in pending)
            if len(pending) == len(step.choices):
                self.slots[step.slot], self.form.pending_choices = pending, []
                return self.advance()
            items = "、".join(self.say(f"{step.slot}.{c}") for c in pending)
            return [Reply(self.say(f"{step.slot}.chosen", items=items), self.buttons_for(step))]
        pending, self.form.pending_choices = self.form.pending_choices, []
        self.slots[step.slot] = [*pending, *(c for c in chosen if c not in pending)]
        kept = self.keep(read(self.flow, self.slots, self.turn), skip=step.slot)
        return self.advance([Reply(self.noted(kept))] if kept else None)

    def on_photo(self, step: StepSpec) -> list[Reply]:
        photos = self.form.photos
        evidence = self.turn.evidence
        photo_step = next((s for s in self.flow.steps if s.type == "photos"), None)
        limit = photo_step.max if photo_step else 9
        if evidence is None:
            return [self.ask(step)]
        if len(photos) >= limit:
            return [
                Reply(self.say(f"{self.flow.name}.photo_limit", max=limit), self.buttons_for(step))
            ]
        photos.append(evidence.id)
        ack = self.say(
            f"{self.flow.name}.photo_received", count=len(photos), sha=evidence.sha256[:12]
        )
        if step.type == "photos":
            return [Reply(ack, self.buttons_for(step))]
        return [self.ask(step, ack)]

    def on_photos_text(self, step: StepSpec) -> list[Reply]:
        text = (self.turn.payload or self.turn.text).strip()
        if is_word("done", text) or is_word("skip", text):
            self.slots[step.slot] = list(self.form.photos)
            return self.advance()
        return [Reply(self.say(f"{self.flow.name}.photo_expected"), self.buttons_for(step))]

    # ---- summary and corrections -------------------------------------------------------
    def summary(self) -> list[Reply]:
        self.form.step = SUMMARY
        lines = [self.say(f"{self.flow.name}.summary_title")]
        lines += [f"· {self.say(s.label)}：{self.display(s)}" for s in self.applicable()]
        lines.append(self.say(f"{self.flow.name}.summary_prompt"))
        buttons = [
            Button(self.say("button.confirm"), "/confirm"),
            Button(self.say("button.edit"), "/edit"),
            self.cancel_button(),
        ]
        return [Reply("\n".join(lines), buttons)]

    def display(self, step: StepSpec) -> str:
        value = self.slots.get(step.slot)
        if step.type == "photos":
            return self.say("value.photos", count=len(value or []))
        if value is None or value == "":
            return (
                self.say("value.none") if step.slot in self.slots else self.say("value.not_given")
            )
        if step.type == "yesno":
            return self.say("value.yes" if value else "value.no")
        if step.type == "secret":
            return self.say("value.secret_set")
        if step.type == "multichoice":
            return "、".join(self.say(f"{step.slot}.{v}") for v in value)
        if step.type == "amount":
            return f"¥{value}"
        if step.type == "choice" and step.labelled and value in step.choices:
            return self.say(f"{self.flow.name}.{step.slot}.{value}")
        if step.type == "id_number":
            shown = max(1, min(4, len(str(value)) // 4))
            return f"{str(value)[:shown]}{'*' * (len(str(value)) - 2 * shown)}{str(value)[-shown:]}"
        if self.lang == "en" and step.entity in ("product", "brand"):
            return english_names().get(str(value), str(value))  # stored in Chinese
        return str(value)

    def field_named(self, text: str) -> StepSpec | None:
        lowered = text.lower()
        best: tuple[int, StepSpec] | None = None
        for step in self.flow.steps:
            for alias in (*step.aliases, self.say(step.label)):
                if alias.lower() in lowered and (best is None or len(alias) > best[0]):
                    best = (len(alias), step)
        return best[1] if best else None

    def pick_field(self) -> list[Reply]:
        self.form.step = PICK_FIELD
        buttons = [Button(self.say(s.label), f"/edit:{s.slot}") for s in self.applicable()]
        return [Reply(self.say(f"{self.flow.name}.which_field"), [*buttons, self.cancel_button()])]

    def correct(self, step: StepSpec) -> list[Reply]:
        self.form.step = step.slot
        self.form.correcting = step.slot
        self.slots.pop(step.slot, None)
        if step.type == "photos":
            self.form.photos = []
        label = self.say(step.label)
        return [self.ask(step, self.say(f"{self.flow.name}.correct_ask", label=label))]

    def on_pick_field(self) -> list[Reply]:
        text = (self.turn.payload or self.turn.text).strip()
        slot = text.removeprefix("/edit:") if text.startswith("/edit:") else None
        step = self.flow.step(slot) if slot and self.flow.has_step(slot) else self.field_named(text)
        return self.correct(step) if step else self.pick_field()

    async def on_summary(self) -> list[Reply]:
        text = (self.turn.payload or self.turn.text).strip()
        if text == "/confirm" or is_word("confirm", text) or is_word("yes", text):
            return await self.submit()
        if text == "/edit" or is_word("edit", text):
            return self.pick_field()
        if self.turn.kind == "text":
            corrected = self.on_correction(None, read(self.flow, self.slots, self.turn))
            if corrected is not None:
                return corrected
        step = self.field_named(text) if self.turn.kind == "text" else None
        if step is None:
            self.state.missed = True
            return [Reply(self.say("common.not_understood_in_flow"))] + self.summary()
        if step.entity and step.type != "text" and entity_value(self.turn, step.entity):
            verdict = validate(
                self.flow, step, self.turn, self.ports.normalizer, self.lang, self.slots
            )
            if isinstance(verdict, Accepted):
                self.slots[step.slot] = verdict.value
                return [
                    Reply(self.say(f"{self.flow.name}.updated", label=self.say(step.label)))
                ] + self.summary()
        return self.correct(step)

    async def submit(self) -> list[Reply]:
        steps = self.applicable()
        personal = {s.slot: self.slots.get(s.slot) for s in steps if s.personal}
        fields = {s.slot: self.slots.get(s.slot) for s in steps if not s.personal}
        fields = {k: v for k, v in fields.items() if self.flow.step(k).type != "photos"}
        if self.form.link_to:
            fields["linked_case_no"] = self.form.link_to
        action = SubmitCase(
            kind=self.flow.case_kind or self.flow.name,
            fields=fields,
            personal=personal,
            evidence_ids=tuple(self.form.photos),
        )
        slots = dict(self.slots)
        self.state.end_form()
        return [Pending(action, lambda receipt, state: self.submitted(receipt, state, slots))]

    def submitted(
        self, receipt: CaseReceipt, state: ConversationState, slots: dict[str, Any]
    ) -> list[Reply]:
        """The receipt in words: the case number, the deadline, the notes and any offer."""
        text = self.say(
            f"{self.flow.name}.submitted",
            case_no=receipt.case_no,
            due=receipt.decision_due.isoformat() if receipt.decision_due else "-",
            days=receipt.working_days or "-",
        )
        if receipt.calendar_estimated and receipt.decision_due:
            text += "\n" + self.say(
                f"{self.flow.name}.submitted_estimated", year=receipt.decision_due.year
            )
        facts = {**slots, "merged": receipt.merged, "linked": bool(receipt.linked_case_no)}
        for note in self.flow.notes:
            if all(facts.get(k) == v for k, v in note.when.items()):
                text += "\n" + self.say(
                    note.text,
                    linked=receipt.linked_case_no or "",
                    identity_code=receipt.identity_code or "",
                )
        buttons = [Button(self.say("button.menu"), "/menu")]
        offer = next(
            (
                o
                for o in self.flow.offers
                if all(facts.get(k) == v for k, v in o.when.items()) and not receipt.linked_case_no
            ),
            None,
        )
        state.last_case_no = receipt.case_no
        if offer is not None:
            text += "\n" + self.say(offer.text)
            buttons.insert(0, Button(self.say(offer.button), f"/link:{offer.flow}"))
            carried = {new: slots.get(old) for new, old in offer.carry.items()}
            state.offer = Offer(
                offer.flow,
                receipt.case_no,
                {k: v for k, v in carried.items() if v not in (None, "")},
            )
        return [Reply(text, buttons, {"case_no": receipt.case_no})]
