"""The port through which the dialogue reads a business's credit record.

Plain dataclasses with codes, not reply text: ``dialogues.credit`` words them. The lists are
the market regulator's 经营异常名录 and 严重违法失信名单 (《企业信息公示暂行条例》 and
《市场监督管理严重违法失信名单管理办法》, sources in ``integrations/credit/data/lists.yml``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Literal, Protocol


class CreditList(StrEnum):
    ABNORMAL = "abnormal"  # 经营异常名录
    SERIOUS = "serious"  # 严重违法失信名单

    @property
    def zh(self) -> str:
        return _LIST_ZH[self]

    @classmethod
    def parse(cls, value: str) -> CreditList:
        """Accept the Chinese names (with or without 列入) or the English keys; ValueError else."""
        text = value.strip().removeprefix("列入")
        for item, label in _LIST_ZH.items():
            if text in (label, label.removesuffix("名录"), label.removesuffix("名单")):
                return item
        return cls(text.lower())


_LIST_ZH = {CreditList.ABNORMAL: "经营异常名录", CreditList.SERIOUS: "严重违法失信名单"}


@dataclass(frozen=True)
class CreditRecord:
    """One listing of one business on one list, as the registry holds it."""

    uscc: str
    name: str
    list: CreditList
    reason: str
    listed_on: date | None
    authority: str
    removed_on: date | None = None
    is_sample: bool = False

    @property
    def current(self) -> bool:
        return self.removed_on is None


@dataclass(frozen=True)
class CreditAnswer:
    """What the registry says about a code or a name, on a given day.

    ``query`` is what was looked up; ``exact`` is True when records are tied to the code the
    user gave (a name match may be another business of the same name).
    """

    query: str
    by: Literal["uscc", "name"]
    on: date
    records: tuple[CreditRecord, ...] = ()
    problem: str | None = None  # uscc problem code when the typed code is not valid
    unavailable: bool = False
    source: dict[str, str] = field(default_factory=dict)

    @property
    def exact(self) -> bool:
        return self.by == "uscc"

    @property
    def uses_sample(self) -> bool:
        return any(r.is_sample for r in self.records)


class CreditChecks(Protocol):
    async def check_business(self, text: str) -> CreditAnswer | None:
        """The lists' records for a code or company name found in ``text``; None when the
        text holds neither."""
        ...
