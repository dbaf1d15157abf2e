"""Checking from a photo or a pasted listing: what was read, what it means, what to do next.

A photo is read in the background (``ReadPhoto``); the reading comes back as a turn of kind
``reading``. Outside a form it gets a verdict; a low-confidence certificate number is read
back first. Inside a form the photo stays evidence and the fields it reveals are offered
for the form. A pasted listing gets the listing check's verdict. Every verdict offers one-tap
next steps: a prefilled report or complaint, and a drafted takedown request.
"""

from __future__ import annotations

import re
from typing import Any

from dialogues import listing
from dialogues.actions import Pending, ReadPhoto
from dialogues.answers import certificate_reply, listing_reply
from dialogues.flows import all_flows, is_word, mentions
from dialogues.model import Button, EvidenceRef, Question, Reply, Turn
from dialogues.ports import Ports
from dialogues.reading import CONFIDENT, FIELDS, PhotoCheck, PhotoReading
from dialogues.state import Checked, ConversationState, Expect
from dialogues.texts import t
from nlu import uscc

CHECKED = "/checked:"
FILL = "/photofill:"
# The form slot each read field may fill, per flow (only while the slot is unanswered).
FILLS: dict[str, dict[str, str]] = {
    "complaint": {"model": "model_no", "brand": "brand"},
    "report": {"manufacturer": "target_name", "holder": "target_name", "brand": "brand"},
}
DIGITS = re.compile(r"[0-9０-９][0-9０-９\s-]{5,40}")


def asks_for_check(text: str) -> bool:
    """ "帮我看看这个是不是正品", "拍照查验": the user is about to send a photo."""
    return is_word("photo_check", text) or mentions("photo_check_phrase", text) is not None


async def invite(turn: Turn, ports: Ports) -> list[Reply]:
    """The menu's 拍照查验: what to photograph, and how."""
    return [Reply(t(turn.lang, "photo.invite") + "\n" + t(turn.lang, "photo.tips"))]


# ---- sending a photo -------------------------------------------------------------------
def read(turn: Turn, evidence: EvidenceRef, count: int, loose: list[Button]) -> Pending:
    """Queue the photo for reading; the user hears that it is being read, or that the
    readers are busy (the photo is kept either way)."""
    lang, sha = turn.lang, evidence.sha256[:12]

    def queued(accepted: bool, state: ConversationState) -> list[Reply]:
        if accepted:
            custom = {"reading": "pending", "evidence_id": evidence.id}
            return [Reply(t(lang, "photo.reading", sha=sha, count=count), custom=custom)]
        return [Reply(t(lang, "photo.busy", sha=sha, count=count), loose)]

    return Pending(ReadPhoto(evidence.id, evidence.sha256, evidence.content_type), queued)


def read_quietly(evidence: EvidenceRef) -> Pending:
    """A photo sent in a form: it is evidence first; a reading that finds fields is offered
    for the form later, and a busy reader costs nothing but the offer."""
    return Pending(
        ReadPhoto(evidence.id, evidence.sha256, evidence.content_type), lambda _ok, _s: []
    )


# ---- the reading comes back ------------------------------------------------------------
async def on_reading(
    state: ConversationState, turn: Turn, ports: Ports, loose: list[Button]
) -> list[Reply]:
    reading = turn.reading
    if reading is None:
        return []
    lang = turn.lang
    if state.form is not None:
        return offer_fill(state, turn, reading)
    done = {"reading": "done", "evidence_id": reading.evidence_id}
    if reading.outcome == "busy":
        return [Reply(t(lang, "photo.busy_later"), loose, custom=done)]
    if reading.outcome != "read" or reading.empty:
        key = "photo.timeout" if reading.outcome == "timeout" else "photo.nothing"
        return [Reply(t(lang, key) + "\n" + t(lang, "photo.tips"), loose, custom=done)]
    if licence_code(reading) is not None:
        code = licence_code(reading)
        said = [*read_lines(lang, reading), t(lang, "photo.licence_outside", code=code)]
        return [Reply("\n".join(said), loose, custom=done)]
    number = reading.field("ccc_number")
    if number is not None and number.confidence < CONFIDENT:
        return [confirm_question(lang, reading, number.value, done)]
    return await verdict(state, turn, ports, reading, loose)


def confirm_question(
    lang: str, reading: PhotoReading, number: str, custom: dict[str, Any]
) -> Question:
    buttons = [
        Button(t(lang, "photo.button.right"), "/yes"),
        Button(t(lang, "photo.button.wrong"), "/no"),
    ]
    return Question(
        t(lang, "photo.confirm_number", number=number),
        buttons,
        custom,
        expect=Expect("photo_confirm", {"reading": reading.as_dict()}),
    )


async def confirmed(
    state: ConversationState, turn: Turn, ports: Ports, data: dict[str, Any]
) -> list[Reply] | None:
    """The answer to "我识别到的编号是 …，对吗？": yes, no, or the number typed."""
    reading = PhotoReading.from_dict(data["reading"])
    number = reading.field("ccc_number")
    text = (turn.payload or turn.text).strip()
    if number is None:
        return None
    if text == "/yes" or is_word("yes", text):
        return await verdict(state, turn, ports, reading.with_field("ccc_number", number.value))
    typed = DIGITS.search(turn.text) if turn.kind == "text" else None
    if typed is not None:
        value = "".join(ch for ch in typed.group(0) if ch.isalnum())
        return await verdict(state, turn, ports, reading.with_field("ccc_number", value))
    if text == "/no" or is_word("no", text):
        return [
            Question(
                t(turn.lang, "photo.type_number"),
                expect=Expect("photo_confirm", {"reading": reading.as_dict()}),
            )
        ]
    return None


def read_lines(lang: str, reading: PhotoReading) -> list[str]:
    """What was read, each with how sure the reader was; links shown, never opened."""
    lines = [t(lang, f"photo.kind.{reading.kind}")]
    for name in FIELDS:
        found = reading.field(name)
        if found is not None:
            label = t(lang, f"photo.field.{name}")
            sure = round(found.confidence * 100)
            lines.append(t(lang, "photo.read_line", label=label, value=found.value, sure=sure))
    for payload in reading.qr:
        lines.append(t(lang, "photo.qr", payload=payload[:200]))
    return lines


async def verdict(
    state: ConversationState,
    turn: Turn,
    ports: Ports,
    reading: PhotoReading,
    loose: list[Button] | None = None,
) -> list[Reply]:
    lang = turn.lang
    lines = read_lines(lang, reading)
    custom = {"reading": "done", "evidence_id": reading.evidence_id}
    if ports.photos is None:
        return [Reply("\n".join(lines), list(loose or []), custom=custom)]
    check = await ports.photos.check_photo(reading, on=turn.now.date())
    lines.append("")
    if check.listing is not None:
        lines.append(listing_reply(check.listing, lang))
    elif check.certificate is not None:
        lines.append(certificate_reply(check.certificate, lang))
    lines += [t(lang, f"photo.note.{n.code}", **n.params) for n in check.notes]
    state.checked = checked_photo(lang, reading, check)
    buttons = next_step_buttons(lang, check.problem) + list(loose or [])
    return [Reply("\n".join(line for line in lines), buttons, custom=custom)]


def checked_photo(lang: str, reading: PhotoReading, check: PhotoCheck) -> Checked:
    if check.listing is not None:
        notes = list(check.notes)
        return listing.checked_listing(lang, check.listing, reading.text, notes)
    values = {f.name: f.value for f in reading.fields}
    label = "；".join(f"{t(lang, f'photo.field.{n}')} {values[n]}" for n in FIELDS if n in values)
    facts = t(lang, "photo.facts.label", read=label or t(lang, "photo.none"))
    said = [t(lang, f"photo.note.{n.code}", **n.params) for n in check.notes]
    facts = "\n".join([facts, *said])[:2000]
    maker = values.get("manufacturer") or values.get("holder")
    report: dict[str, Any] = {"violation": "forged_cert" if check.problem else "counterfeit_brand"}
    report["facts"] = facts
    if maker:
        report.update(target_type="factory", target_name=maker[:120])
    complaint: dict[str, Any] = {}
    product = " ".join(v for v in (values.get("brand"), values.get("model")) if v)
    if product:
        complaint["product"] = product[:100]
    if values.get("brand"):
        complaint["brand"] = values["brand"][:60]
        report["brand"] = values["brand"][:60]
    if values.get("model"):
        complaint["model_no"] = values["model"][:40]
    takedown = t(
        lang,
        "photo.takedown",
        title=product or t(lang, "photo.none"),
        shop=t(lang, "photo.unknown_shop"),
        link=t(lang, "photo.no_link"),
        reason=facts,
    )
    return Checked(report=report, complaint=complaint, takedown=takedown)


def next_step_buttons(lang: str, problem: bool) -> list[Button]:
    buttons = [
        Button(t(lang, "photo.button.report"), f"{CHECKED}report"),
        Button(t(lang, "photo.button.complaint"), f"{CHECKED}complaint"),
    ]
    if problem:
        buttons.append(Button(t(lang, "photo.button.takedown"), f"{CHECKED}takedown"))
    return buttons


# ---- a pasted listing ------------------------------------------------------------------
async def check_listing(state: ConversationState, turn: Turn, ports: Ports) -> list[Reply]:
    lang = turn.lang
    if ports.knowledge is None:
        return [Reply(t(lang, "knowledge.dont_know"))]
    check = await ports.knowledge.check_listing(turn.text, on=turn.now.date())
    notes = listing.listing_notes(check, turn.text)
    lines = [t(lang, "photo.listing_intro"), listing_reply(check, lang)]
    lines += [t(lang, f"photo.note.{n.code}", **n.params) for n in notes]
    state.checked = listing.checked_listing(lang, check, turn.text, notes)
    problem = listing.acts_on(check.verdict, notes)
    return [Reply("\n".join(lines), next_step_buttons(lang, problem))]


def takedown(state: ConversationState, lang: str) -> list[Reply]:
    if state.checked is None or not state.checked.takedown:
        return [Reply(t(lang, "photo.nothing_checked"))]
    return [Reply(t(lang, "photo.takedown_intro")), Reply(state.checked.takedown)]


# ---- a photo sent in a form ------------------------------------------------------------
def licence_code(reading: PhotoReading) -> str | None:
    """The credit code of a business licence photo, only when its check digit adds up."""
    if reading.kind != "licence" or reading.outcome != "read":
        return None
    found = reading.field("uscc")
    checked = uscc.validate(found.value) if found is not None else None
    return checked.normalized if checked is not None and checked.ok else None


def offer_licence(state: ConversationState, turn: Turn, reading: PhotoReading) -> list[Reply]:
    """ "从营业执照识别到 …，填入吗？": the licence's name and code (and address) offered for
    the form's seller, added to the shop name already given; nothing if it has a code."""
    form, code = state.form, licence_code(reading)
    flow = all_flows().get(form.flow) if form is not None else None
    step = next((s for s in flow.steps if s.business_id), None) if flow else None
    if form is None or code is None or step is None:
        return []
    given = str(form.slots.get(step.slot) or "")
    if uscc.find(given) is not None:
        return []
    lang = turn.lang
    name = reading.field("business_name")
    address = reading.field("registered_address")
    parts = [name.value if name and name.confidence >= CONFIDENT else "", code]
    shown = [f"{t(lang, 'photo.field.uscc')} {code}{t(lang, 'photo.licence_code_ok')}"]
    if parts[0]:
        shown.insert(0, f"{t(lang, 'photo.field.business_name')} {parts[0]}")
    value = " ".join([given, *(p for p in parts if p and p not in given)]).strip()
    if address is not None and address.confidence >= CONFIDENT:
        with_address = f"{value} 住所：{address.value}"
        if len(with_address) <= step.max_len:
            value = with_address
            shown.append(f"{t(lang, 'photo.field.registered_address')} {address.value}")
    state.photo_fill = {step.slot: value[: step.max_len]}
    buttons = [
        Button(t(lang, "photo.button.fill"), f"{FILL}yes"),
        Button(t(lang, "photo.button.no_fill"), f"{FILL}no"),
    ]
    role = t(lang, step.label)
    return [Reply(t(lang, "photo.licence_offer", items="、".join(shown), role=role), buttons)]


def offer_fill(state: ConversationState, turn: Turn, reading: PhotoReading) -> list[Reply]:
    """ "从照片里识别到型号 PB-2000，填入吗？" for the form's still-empty fields."""
    form = state.form
    if form is None or reading.outcome != "read":
        return []
    if reading.kind == "licence":
        return offer_licence(state, turn, reading)
    offer: dict[str, str] = {}
    shown: list[str] = []
    for name, slot in FILLS.get(form.flow, {}).items():
        found = reading.field(name)
        if found is None or slot in form.slots or slot in offer:
            continue
        if found.confidence < CONFIDENT:
            continue
        offer[slot] = found.value
        shown.append(f"{t(turn.lang, f'photo.field.{name}')} {found.value}")
    if not offer:
        return []
    state.photo_fill = offer
    buttons = [
        Button(t(turn.lang, "photo.button.fill"), f"{FILL}yes"),
        Button(t(turn.lang, "photo.button.no_fill"), f"{FILL}no"),
    ]
    return [Reply(t(turn.lang, "photo.fill_offer", items="、".join(shown)), buttons)]


def take_fill(state: ConversationState, answer: str) -> dict[str, str]:
    """The offered fields if the user took them (the offer goes either way)."""
    offer, state.photo_fill = state.photo_fill, {}
    return offer if answer == f"{FILL}yes" else {}
