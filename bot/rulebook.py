"""The engine's RuleBook: reward levels and damages rules from the knowledge data files.

The numbers live once, in ``bot/knowledge/data/*.yml`` ``rule`` blocks beside their source;
this reads them so the report flow and the calculator never restate them in code.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache

from bot.knowledge.base import Entry, load_entries
from dialogues.ports import CompensationRule, RewardLevel

ENTRY_FOR = {"fraud": "fraud_compensation", "food": "food_compensation"}


@cache
def _entries() -> dict[str, Entry]:
    return {e.id: e for e in load_entries()}


class KnowledgeRuleBook:
    """Implements ``dialogues.ports.RuleBook``."""

    def reward_levels(self) -> tuple[list[RewardLevel], int, str]:
        entry = _entries()["reward_rules"]
        if not entry.rule:
            raise ValueError("reward_rules has no rule block with the levels")
        levels = [
            RewardLevel(int(x["level"]), Decimal(str(x["percent"])), int(x["minimum_yuan"]))
            for x in entry.rule["levels"]
        ]
        # Users see the official basis; ``source`` keeps the maintainers' provenance notes.
        return levels, int(entry.rule["cap_yuan"]), entry.cite.get("zh") or entry.source

    def compensation(self, key: str) -> CompensationRule | None:
        entry = _entries().get(ENTRY_FOR.get(key, ""))
        if entry is None or not entry.rule:
            return None
        rule = entry.rule
        return CompensationRule(
            key=key,
            multiplier=int(rule["multiplier"]),
            minimum_yuan=int(rule["minimum_yuan"]),
            refund_price=bool(rule.get("refund_price", True)),
            source=entry.source,
            loss_multiplier=rule.get("loss_multiplier"),
        )
