"""Advice answers (CCC, identifying fakes, compensation, process, rewards) from the knowledge port.

Each answer cites its source in one short line (the knowledge texts do that); the
compensation calculator states what may be claimed under the rule, never a promise.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from dialogues import subscriptions, watch
from dialogues.answers import (
    cases_reply,
    catalogue_reply,
    certificate_reply,
    knowledge_reply,
    related_case_reply,
)
from dialogues.explain import reward_levels
from dialogues.flows import mentions
from dialogues.knowledge_port import KnowledgeAnswer
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
    if not answer.found:
        return [Reply(knowledge_reply(answer, lang), [_human(lang)])]
    return [Reply(await _with_cases(answer, lang, ports), _subscribe(answer, lang))]


async def by_meaning(turn: Turn, ports: Ports) -> list[Reply] | None:
    """A question the intents did not place, answered when the knowledge base is sure of
    one entry; None leaves the turn not understood (a wrong entry is worse than none)."""
    if ports.knowledge is None or turn.kind != "text" or not turn.text.strip():
        return None
    answer = await ports.knowledge.ask(turn.text)
    if not answer.found:
        return None
    return [Reply(await _with_cases(answer, turn.lang, ports), _subscribe(answer, turn.lang))]


def _subscribe(answer: KnowledgeAnswer, lang: str) -> list[Button]:
    """A category's advice ends with one tap to subscribe to that category's alerts; an
    answer about no category (or one alerts do not cover) ends with nothing."""
    button = subscriptions.offer(answer.category, lang)
    return [button] if button is not None else []


async def referral(turn: Turn, ports: Ports) -> list[Reply] | None:
    """Outside the regulator's remit (tobacco → 12313, telecom fraud → 110): the right door,
    before any complaint is started; None when the message names no such subject."""
    if ports.knowledge is None or turn.kind != "text" or not turn.text.strip():
        return None
    answer = await ports.knowledge.refer(turn.text)
    if answer is None:
        return None
    return [Reply(knowledge_reply(answer, turn.lang))]


async def _with_cases(answer: KnowledgeAnswer, lang: str, ports: Ports) -> str:
    """The entry's text; the typical-cases entry lists the latest cases (of the category
    asked about), and a category's advice ends with its latest case."""
    text = knowledge_reply(answer, lang)
    if ports.knowledge is None:
        return text
    if answer.topic == "cases":
        cases = await ports.knowledge.typical_cases(category=answer.category, limit=3)
        return "\n\n".join([text, cases_reply(cases, lang, asked=answer.category)])
    if answer.category:
        cases = await ports.knowledge.typical_cases(category=answer.category, limit=1)
        if cases:
            return "\n\n".join([text, related_case_reply(cases[0], lang)])
    return text


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
    offered = watch.offer(check, lang)
    if offered is None:
        return [Reply(certificate_reply(check, lang))]
    button, expect = offered
    text = "\n".join([certificate_reply(check, lang), t(lang, "watch.offer")])
    return [Question(text, [button], expect=expect)]


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
