"""Explanations shown before a question, rendered from data the ports provide.

The reward explanation states conditions and the three levels from the rules data file;
it never names an amount the reporter will get (FACTS §2).
"""

from __future__ import annotations

from collections.abc import Callable

from dialogues.ports import Ports
from dialogues.texts import t


def reward_levels(lang: str, ports: Ports) -> str:
    """The reward conditions and levels, with the source, or the conditions alone."""
    lines = [t(lang, "reward.conditions")]
    if ports.rules is not None:
        levels, cap, source = ports.rules.reward_levels()
        for level in levels:
            lines.append(
                t(
                    lang,
                    "reward.level",
                    level=level.level,
                    percent=level.percent.normalize(),
                    minimum=f"{level.minimum_yuan:,}",
                )
            )
        lines.append(t(lang, "reward.cap", cap=f"{cap:,}"))
        lines.append(t(lang, "reward.no_promise"))
        lines.append(t(lang, "reward.source", source=source))
    else:
        lines.append(t(lang, "reward.no_promise"))
    return "\n".join(lines)


EXPLAINERS: dict[str, Callable[[str, Ports], str]] = {"reward": reward_levels}
