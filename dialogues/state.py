"""What a conversation remembers between messages: typed here, versioned in its column.

The engine works on a ``ConversationState``; the pipeline stores ``dump()`` (a JSON object
with ``"version"``) and gives ``load()`` whatever the column holds. Version 0 is the untyped
layout from before, with the same keys, so conversations in progress carry on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

VERSION = 1


@dataclass
class FormState:
    """The open form: which flow, the question pending, and the answers so far."""

    flow: str
    step: str | None = None
    slots: dict[str, Any] = field(default_factory=dict)
    # Evidence ids of the photos sent for this form.
    photos: list[int] = field(default_factory=list)
    # The field being corrected from the summary, if any.
    correcting: str | None = None
    # Choices picked so far in a multiple-choice step.
    pending_choices: list[str] = field(default_factory=list)
    # The case this form's case will be linked to (a report after a complaint).
    link_to: str | None = None
    # The user asked to cancel a form with answers; the next message confirms or goes on.
    cancelling: bool = False


@dataclass
class Expect:
    """A question asked outside a form (the phone number of a claim, a certificate number);
    the next message is tried as its answer first."""

    answer: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Offer:
    """A linked case offered after a submission (``/link:<flow>``), with the answers it
    carries over."""

    flow: str
    link_to: str
    carry: dict[str, Any] = field(default_factory=dict)


@dataclass
class Checked:
    """The last photo or listing check: what its one-tap next steps carry (a prefilled
    report or complaint, a drafted takedown request)."""

    report: dict[str, Any] = field(default_factory=dict)
    complaint: dict[str, Any] = field(default_factory=dict)
    takedown: str = ""

    def dump(self) -> dict[str, Any]:
        return {"report": self.report, "complaint": self.complaint, "takedown": self.takedown}

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> Checked:
        return cls(
            dict(data.get("report") or {}),
            dict(data.get("complaint") or {}),
            str(data.get("takedown") or ""),
        )


@dataclass
class ConversationState:
    lang: str | None = None
    form: FormState | None = None
    expect: Expect | None = None
    offer: Offer | None = None
    # The hand-over request waiting in the staff queue, if any.
    handover_request: int | None = None
    # Messages in a row the bot did not understand (two queue the conversation for a person).
    misses: int = 0
    # Photos sent outside a form, waiting to be attached to a case.
    loose_evidence: list[int] = field(default_factory=list)
    last_case_no: str | None = None
    # The last photo or listing check's next steps (dialogues/photo.py).
    checked: Checked | None = None
    # Fields read from a photo sent in the open form, offered for it (slot -> value).
    photo_fill: dict[str, str] = field(default_factory=dict)
    # This turn only, never stored: the message was not understood.
    missed: bool = field(default=False, compare=False)
    # This turn only, never stored: the message was a secret (a report password), so its text
    # is kept out of the transcript.
    secret_turn: bool = field(default=False, compare=False)

    def end_form(self) -> None:
        """The form is finished or abandoned: its answers and any open offer go."""
        self.form = None
        self.offer = None
        self.photo_fill = {}

    @classmethod
    def load(cls, raw: Mapping[str, Any] | ConversationState | None) -> ConversationState:
        """The state from its column (any version), or a copy of a state."""
        if isinstance(raw, ConversationState):
            return cls.load(raw.dump())
        data = dict(raw or {})
        version = int(data.get("version", 0))
        if version > VERSION:
            raise ValueError(f"conversation state version {version} is newer than {VERSION}")
        form = None
        if data.get("flow"):
            form = FormState(
                flow=str(data["flow"]),
                step=data.get("step"),
                slots=dict(data.get("slots") or {}),
                photos=list(data.get("photos") or []),
                correcting=data.get("correcting"),
                pending_choices=list(data.get("pending_choices") or []),
                link_to=data.get("link_to"),
                cancelling=bool(data.get("cancelling", False)),
            )
        expect = data.get("expect")
        offer = data.get("offer")
        return cls(
            lang=data.get("lang"),
            form=form,
            expect=Expect(expect["answer"], dict(expect.get("data") or {})) if expect else None,
            offer=Offer(offer["flow"], offer["link_to"], dict(offer.get("carry") or {}))
            if offer
            else None,
            handover_request=data.get("handover_request"),
            misses=int(data.get("misses", 0)),
            loose_evidence=list(data.get("loose_evidence") or []),
            last_case_no=data.get("last_case_no"),
            checked=Checked.load(data["checked"]) if data.get("checked") else None,
            photo_fill=dict(data.get("photo_fill") or {}),
        )

    def dump(self) -> dict[str, Any]:
        """The column's JSON: one flat object, as tools and staff pages read it."""
        out: dict[str, Any] = {"version": VERSION}
        if self.lang is not None:
            out["lang"] = self.lang
        if self.form is not None:
            form = self.form
            out.update(flow=form.flow, step=form.step, slots=dict(form.slots))
            out.update(photos=list(form.photos), correcting=form.correcting)
            if form.pending_choices:
                out["pending_choices"] = list(form.pending_choices)
            if form.link_to is not None:
                out["link_to"] = form.link_to
            if form.cancelling:
                out["cancelling"] = True
        if self.expect is not None:
            out["expect"] = {"answer": self.expect.answer, "data": dict(self.expect.data)}
        if self.offer is not None:
            offer = self.offer
            out["offer"] = {"flow": offer.flow, "link_to": offer.link_to, "carry": offer.carry}
        if self.handover_request is not None:
            out["handover_request"] = self.handover_request
        if self.misses:
            out["misses"] = self.misses
        if self.loose_evidence:
            out["loose_evidence"] = list(self.loose_evidence)
        if self.last_case_no is not None:
            out["last_case_no"] = self.last_case_no
        if self.checked is not None:
            out["checked"] = self.checked.dump()
        if self.photo_fill:
            out["photo_fill"] = dict(self.photo_fill)
        return out
