"""Status answers: the sender's own cases, one case by number, claiming across channels.

A number that is unknown and a number that belongs to someone else get the very same reply
(and the same claim offer), so the reply never tells whether a case exists.
"""

from __future__ import annotations

import re
from typing import Any

from dialogues.actions import ClaimCase, ClaimReceipt, Pending
from dialogues.model import Button, Question, Reply, Turn
from dialogues.ports import CaseView, Ports
from dialogues.state import ConversationState, Expect
from dialogues.texts import has, t
from nlu.entities import parse_case_id

# Digits and the separators of a phone number: an attempt at the number, even a partial one.
NUMBERISH = re.compile(r"[0-9０-９+＋ \-()（）]{3,32}")


def _label(lang: str, status: str) -> str:
    key = f"status.label.{status}"
    return t(lang, key) if has(lang, key) else status


def describe(view: CaseView, lang: str) -> str:
    """One case in one line: number, kind, status, last change and the next deadline."""
    text = t(
        lang,
        "status.line",
        case_no=view.case_no,
        kind=t(lang, f"flow.{view.kind}"),
        status=_label(lang, view.status),
        changed=view.last_change.date().isoformat(),
    )
    if view.forwarded_on is not None and view.office:
        text += t(lang, "status.forwarded", office=view.office, on=view.forwarded_on.isoformat())
    if view.next_deadline is not None:
        text += t(lang, "status.deadline", due=view.next_deadline.isoformat())
    if view.merged:
        text += t(lang, "status.merged")
    return text


def _case_no(turn: Turn) -> str | None:
    found = turn.parse.first("case_id") if turn.parse else None
    return str(found.value) if found else parse_case_id(turn.text or "")


async def status(turn: Turn, ports: Ports) -> list[Reply]:
    """``case_status``: one case by number if it is the sender's, else the sender's list."""
    lang = turn.lang
    if ports.lookup is None:
        return [Reply(t(lang, "status.unavailable"))]
    case_no = _case_no(turn)
    if case_no:
        view = await ports.lookup.own_case(case_no)
        if view is not None:
            return [Reply(describe(view, lang), custom={"case_no": view.case_no})]
        return [not_found(lang, case_no)]
    views = await ports.lookup.own_cases()
    if not views:
        return [Reply(t(lang, "status.none"))]
    lines = [t(lang, "status.list_title", count=len(views))]
    lines += [describe(v, lang) for v in views]
    lines.append(t(lang, "status.other_number"))
    return [Reply("\n".join(lines))]


def not_found(lang: str, case_no: str) -> Reply:
    """The same words for unknown and foreign numbers, with the cross-channel claim offer."""
    return Question(
        t(lang, "status.not_found", case_no=case_no),
        [Button(t(lang, "button.menu"), "/menu")],
        expect=Expect("claim", {"case_no": case_no}),
    )


async def claim(turn: Turn, ports: Ports, data: dict[str, Any]) -> list[Reply] | None:
    """The answer to the claim offer: the case's full mobile number, or None when the user
    moved on. Part of a number (such as its last four digits) is asked again, costing no try."""
    answer = (turn.payload or turn.text or "").strip()
    if ports.lookup is None:
        return None
    lang, case_no = turn.lang, str(data["case_no"])
    expect = Expect("claim", {"case_no": case_no})
    phone = ports.normalizer.phone(answer)
    if phone is None:
        if NUMBERISH.fullmatch(answer):
            return [Question(t(lang, "status.claim_need_phone"), expect=expect)]
        return None

    def claimed(receipt: ClaimReceipt, _state: ConversationState) -> list[Reply]:
        if receipt.result == "claimed":
            text = t(lang, "status.claimed", case_no=case_no)
            if receipt.view is not None:
                text += "\n" + describe(receipt.view, lang)
            return [Reply(text, custom={"case_no": case_no})]
        if receipt.result == "locked" or receipt.tries_left <= 0:
            return [Reply(t(lang, "status.claim_locked"))]
        return [Question(t(lang, "status.claim_mismatch", left=receipt.tries_left), expect=expect)]

    return [Pending(ClaimCase(case_no, phone), claimed)]
