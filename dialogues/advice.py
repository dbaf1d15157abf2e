"""Advice answers (CCC, identifying fakes, compensation, process, rewards) from the knowledge port.

Each answer cites its source in one short line (the knowledge texts do that); the
compensation calculator states what may be claimed under the rule, never a promise.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from dialogues.answers import catalogue_reply, certificate_reply, knowledge_reply
from dialogues.explain import reward_levels
from dialogues.flows import mentions
from dialogues.model import Button, Question, Reply, Turn
from dialogues.ports import Ports
from dialogues.state import Expect
from dialogues.texts import t


def _entity(turn: Turn, name: str) -> Any:
    found = turn.parse.first(name) if turn.parse else None
    return found.value if found else None


def _human(lang: str) -> Button:
    return Button(t(lang, "knowledge.button.human"), "/human")


async def knowledge(turn: Turn, ports: Ports) -> list[Reply]:
    """The best knowledge entry for the question, or don't-know with a human button."""
    lang = turn.lang
    if ports.knowledge is None or not turn.text.strip():
        return [Reply(t(lang, "knowledge.dont_know"), [_human(lang)])]
    answer = await ports.knowledge.ask(turn.text)
    buttons = [] if answer.found else [_human(lang)]
    return [Reply(knowledge_reply(answer, lang), buttons)]


async def check_ccc_cert(turn: Turn, ports: Ports) -> list[Reply]:
    """Check a certificate number; without one, ask for it and take the next message as it."""
    lang = turn.lang
    if ports.knowledge is None:
        return [Reply(t(lang, "knowledge.dont_know"), [_human(lang)])]
    if not any(ch.isdigit() for ch in turn.text):
        return [Question(t(lang, "advice.ccc_ask_number"), expect=Expect("ccc_number"))]
    product = _entity(turn, "product")
    check = await ports.knowledge.check_certificate(
        turn.text, product=str(product) if product else None, on=turn.now.date()
    )
    return [Reply(certificate_reply(check, lang))]


async def ccc_number(turn: Turn, ports: Ports, data: dict[str, Any]) -> list[Reply] | None:
    """The number asked for by ``check_ccc_cert``; None (route normally) if it has no digits."""
    if not any(ch.isdigit() for ch in turn.text):
        return None
    return await check_ccc_cert(turn, ports)


async def ask_ccc_required(turn: Turn, ports: Ports) -> list[Reply]:
    """Whether a product needs CCC (catalogue), else the knowledge answer."""
    product = _entity(turn, "product")
    if ports.knowledge is None or not product:
        return await knowledge(turn, ports)
    answer = await ports.knowledge.ccc_required(str(product), on=turn.now.date())
    return [Reply(catalogue_reply(answer, turn.lang))]


async def ask_compensation(turn: Turn, ports: Ports) -> list[Reply]:
    """The rule from the knowledge base, plus the sum for the price the user named."""
    replies = await knowledge(turn, ports)
    amount = _entity(turn, "amount")
    if amount is None or ports.rules is None:
        return replies
    # Fake liquor is fraud (×3) unless tested unsafe and sold knowingly: ×10 is only explained.
    liquor = mentions("liquor", turn.text) is not None
    food = not liquor and mentions("food", turn.text) is not None
    rule = ports.rules.compensation("food" if food else "fraud")
    if rule is None:
        return replies
    price = Decimal(str(amount))
    extra = max(price * rule.multiplier, Decimal(rule.minimum_yuan))
    text = t(
        turn.lang,
        f"advice.compensation.{rule.key}",
        price=_yuan(price),
        times=_yuan(price * rule.multiplier),
        multiplier=rule.multiplier,
        minimum=_yuan(Decimal(rule.minimum_yuan)),
        extra=_yuan(extra),
        total=_yuan(price + extra if rule.refund_price else extra),
    )
    if liquor:
        text += "\n" + t(turn.lang, "advice.compensation.liquor")
    text += "\n" + t(turn.lang, "advice.compensation.caveat")
    return [*replies, Reply(text)]


async def ask_reward(turn: Turn, ports: Ports) -> list[Reply]:
    """Reward conditions and levels from the data file; never an amount."""
    lang = turn.lang
    text = reward_levels(lang, ports)
    return [
        Reply(
            text + "\n" + t(lang, "advice.reward_how"),
            [Button(t(lang, "menu.item.report"), "/report")],
        )
    ]


def _yuan(value: Decimal) -> str:
    whole = value.quantize(Decimal("0.01")).normalize()
    return f"{whole:,f}"
