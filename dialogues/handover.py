"""Handover requests: queue the conversation for a person, say roughly how long, allow cancel.

Taking the conversation is the staff side's job; once a person holds it the pipeline keeps
the bot quiet, so nothing here runs then.
"""

from __future__ import annotations

from dialogues.actions import CancelHandover, Pending, RequestHandover
from dialogues.model import Button, Reply, Turn
from dialogues.ports import HandoverTicket, Ports
from dialogues.state import ConversationState
from dialogues.texts import t

CANCEL_PAYLOAD = "/handover_cancel"


def queue(turn: Turn, reason: str, detail: str = "") -> list[Reply]:
    """Put the conversation in the staff queue and tell the user where it stands."""
    lang = turn.lang

    def queued(ticket: HandoverTicket, state: ConversationState) -> list[Reply]:
        state.handover_request = ticket.request_id
        key = "handover.already" if ticket.already_queued else f"handover.queued.{reason}"
        if ticket.opens_at is None:
            wait = t(lang, "handover.wait", minutes=ticket.wait_minutes)
        else:
            opens = ticket.opens_at
            when = (
                f"{opens:%m-%d %H:%M}"
                if opens.date() != turn.now.astimezone(opens.tzinfo).date()
                else f"{opens:%H:%M}"
            )
            hours = ticket.staff_hours.get(lang, "")
            wait = t(lang, "handover.after_hours", hours=hours, opens=when)
        text = t(lang, key) + "\n" + wait
        return [Reply(text, [Button(t(lang, "handover.button.cancel"), CANCEL_PAYLOAD)])]

    return [Pending(RequestHandover(reason, detail[:200]), queued)]


async def request(turn: Turn, ports: Ports) -> list[Reply]:
    """``human_handoff`` and the menu item: the user asked for a person."""
    return queue(turn, "asked", turn.text)


def cancel(turn: Turn) -> list[Reply]:
    """Withdraw the queued request (the user changed their mind)."""

    def cancelled(done: bool, _state: ConversationState) -> list[Reply]:
        return [Reply(t(turn.lang, "handover.cancelled" if done else "handover.none"))]

    return [Pending(CancelHandover(), cancelled)]
