"""Credit checks the dialogue port exposes: a code or a company name to what the lists say.

Composes the code rules (``nlu.uscc``), any ``CreditRegistry`` adapter and the
lists' sources (``data/lists.yml``); the wording is ``dialogues.credit``'s.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from dialogues.credit_port import CreditAnswer
from integrations.ccc.service import today_shanghai
from integrations.credit.registry import CreditRegistry, RegistryUnavailable
from nlu import uscc
from nlu.datafile import read_yaml
from nlu.uscc import find_name

LISTS = Path(__file__).parent / "data" / "lists.yml"


@cache
def lists_info() -> dict[str, Any]:
    return dict(read_yaml(LISTS))


class CreditService:
    """Implements ``dialogues.credit_port.CreditChecks`` over a registry."""

    def __init__(
        self, registry: CreditRegistry, *, today: Callable[[], date] = today_shanghai
    ) -> None:
        self.registry = registry
        self._today = today

    async def check_business(self, text: str) -> CreditAnswer | None:
        source = {k: v for k, v in lists_info()["source"].items()}
        day = self._today()
        code = uscc.find(text)
        if code is not None:
            if not code.ok:
                return CreditAnswer(
                    code.normalized, "uscc", day, problem=code.problem, source=source
                )
            return await self._ask("uscc", code.normalized, day, source)
        name = find_name(text)
        if name is None:
            return None
        return await self._ask("name", name, day, source)

    async def _ask(self, by: str, query: str, day: date, source: dict[str, str]) -> CreditAnswer:
        try:
            records = await (
                self.registry.by_code(query) if by == "uscc" else self.registry.by_name(query)
            )
        except RegistryUnavailable:
            return CreditAnswer(query, by, day, unavailable=True, source=source)  # type: ignore[arg-type]
        return CreditAnswer(query, by, day, records=tuple(records), source=source)  # type: ignore[arg-type]
