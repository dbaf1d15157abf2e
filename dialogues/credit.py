"""Checking a seller's credit record in chat: "查一下这家公司" or a pasted credit code.

Reads through ``Ports.credit`` (``dialogues.credit_port``); every answer is dated, names its
source, marks SAMPLE data and says that no record proves nothing. A look-up by name may hit
another business of the same name, so each listing shows its code to compare.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from dialogues.credit_port import CreditAnswer
from dialogues.model import Question, Reply, Turn
from dialogues.ports import Ports
from dialogues.state import Expect
from dialogues.texts import t
from nlu import uscc

# "查一下这家店", "这个公司有没有问题", "经营异常", "失信": short fixed alternatives with one
# bounded gap, tried from each position: linear in the message length.
_CUE = re.compile(
    r"(?:查|查查|查一下|查询|核实|看看)[^，。！？\n]{0,6}(?:店|店铺|商家|公司|企业|卖家|厂家|商行)"
    r"|经营异常|严重违法|失信名单|黑名单|信用记录|信用代码"
)
# "查一下深圳市某某有限公司": a look-up verb first, then a business name anywhere after it.
_VERB_FIRST = re.compile(r"^(?:帮我|请)?(?:查|核实|看看)")
MAX_SHOWN = 5


def wants_check(text: str) -> bool:
    """A request to check a business, or a pasted credit code (alone or with words)."""
    folded = unicodedata.normalize("NFKC", text)
    if _CUE.search(folded) or uscc.find(folded) is not None:
        return True
    return bool(_VERB_FIRST.match(folded)) and uscc.find_name(folded) is not None


def _day(value: Any) -> str:
    return value.isoformat() if value else "—"


def credit_reply(answer: CreditAnswer, lang: str) -> str:
    """The lists' answer in words: every listing dated, the source, the caveat."""
    if answer.problem:
        return t(lang, "credit.bad_code", code=answer.query)
    if answer.unavailable:
        return t(lang, "credit.unavailable")
    lines: list[str] = []
    by = "code" if answer.exact else "name"
    if not answer.records:
        lines.append(t(lang, f"credit.none_by_{by}", query=answer.query, on=answer.on.isoformat()))
    else:
        lines.append(t(lang, f"credit.found_by_{by}", query=answer.query, on=answer.on.isoformat()))
        for record in answer.records[:MAX_SHOWN]:
            key = "credit.listing_removed" if record.removed_on else "credit.listing_current"
            lines.append(
                t(
                    lang,
                    key,
                    name=record.name,
                    code=record.uscc,
                    list=t(lang, f"credit.list.{record.list.value}"),
                    reason=record.reason or "—",
                    listed=_day(record.listed_on),
                    authority=record.authority or "—",
                    removed=_day(record.removed_on),
                )
            )
        if not answer.exact:
            lines.append(t(lang, "credit.same_name_caveat"))
        if answer.uses_sample:
            lines.append(t(lang, "credit.sample"))
    lines.append(t(lang, "credit.source"))
    lines.append(t(lang, "credit.absence"))
    return "\n".join(lines)


async def check_business(turn: Turn, ports: Ports) -> list[Reply]:
    """Look the business up; without a code or name, ask for one (and say where to find it)."""
    lang = turn.lang
    if ports.credit is None:
        return [Reply(t(lang, "credit.not_available"))]
    answer = await ports.credit.check_business(turn.text)
    if answer is None:
        return [Question(t(lang, "credit.ask"), expect=Expect("business_id"))]
    return [Reply(credit_reply(answer, lang))]


async def business_id(turn: Turn, ports: Ports, data: dict[str, Any]) -> list[Reply] | None:
    """The code or name asked for by ``check_business``; None (route normally) without one."""
    if ports.credit is None:
        return None
    answer = await ports.credit.check_business(turn.text)
    return [Reply(credit_reply(answer, turn.lang))] if answer is not None else None
