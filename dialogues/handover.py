"""Handover requests: queue the conversation for a person, say roughly how long, allow cancel.

Taking the conversation is the staff side's job; once a person holds it the pipeline keeps
the bot quiet, so nothing here runs then.
"""

from __future__ import annotations

from dialogues.model import Button, Reply, Turn
from dialogues.ports import Ports
from dialogues.texts import t

CANCEL_PAYLOAD = "/handover_cancel"


async def queue(turn: Turn, ports: Ports, reason: str, detail: str = "") -> list[Reply]:
    """Put the conversation in the staff queue and tell the user where it stands."""
    lang = turn.lang
    if ports.handover is None:
        return [Reply(t(lang, "handover.unavailable"))]
    ticket = await ports.handover.request(reason=reason, detail=detail[:200])
    key = "handover.already" if ticket.already_queued else f"handover.queued.{reason}"
    text = t(lang, key) + "\n" + t(lang, "handover.wait", minutes=ticket.wait_minutes)
    return [
        Reply(
            text,
            [Button(t(lang, "handover.button.cancel"), CANCEL_PAYLOAD)],
            {"handover_request": ticket.request_id},
        )
    ]


async def request(turn: Turn, ports: Ports) -> list[Reply]:
    """``human_handoff`` and the menu item: the user asked for a person."""
    return await queue(turn, ports, "asked", turn.text)


async def cancel(turn: Turn, ports: Ports) -> list[Reply]:
    """Withdraw the queued request (the user changed their mind)."""
    cancelled = ports.handover is not None and await ports.handover.cancel()
    return [Reply(t(turn.lang, "handover.cancelled" if cancelled else "handover.none"))]
