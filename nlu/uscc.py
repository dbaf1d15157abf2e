"""The 统一社会信用代码 (USCC): shape, check digit and the region code inside it.

Validation is python-stdnum's ``cn.uscc`` (length, characters, check digit, GB 32100-2015).
Characters 3-8 are the registration authority's administrative division code, which places
a business that gave no address (``bot.business.region.Regions.from_code`` names it).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from stdnum.cn import uscc
from stdnum.exceptions import InvalidChecksum, InvalidLength, ValidationError

Problem = Literal["empty", "length", "format", "checksum"]

# 18 characters of the code's alphabet standing alone; {18} and fixed classes: linear time.
_CANDIDATE = re.compile(r"(?<![0-9A-Z])[0-9A-HJ-NP-RTUW-Y]{18}(?![0-9A-Z])")
_SEPARATORS = re.compile(r"[\s\-]+")


@dataclass(frozen=True)
class UsccCheck:
    """A typed code after normalisation; ``problem`` is None for a valid code."""

    raw: str
    normalized: str
    problem: Problem | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def division_code(self) -> str | None:
        """The registration authority's 6-digit administrative division code."""
        return self.normalized[2:8] if self.ok else None


def normalize(text: str) -> str:
    """Full-width to half-width, separators removed, upper case."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", text)).upper()


def validate(text: str) -> UsccCheck:
    number = normalize(text or "")
    if not number:
        return UsccCheck(text, number, "empty")
    try:
        return UsccCheck(text, uscc.validate(number))
    except InvalidLength:
        return UsccCheck(text, number, "length")
    except InvalidChecksum:
        return UsccCheck(text, number, "checksum")
    except ValidationError:
        return UsccCheck(text, number, "format")


def find(text: str) -> UsccCheck | None:
    """The first 18-character code-shaped run in free text, checked; None when there is none.

    A run of the right shape with a wrong check digit is returned (not skipped), so the user
    can be told the code they pasted does not add up.
    """
    folded = unicodedata.normalize("NFKC", text or "").upper()
    match = _CANDIDATE.search(folded)
    return validate(match.group(0)) if match else None


def locate(text: str) -> tuple[int, int] | None:
    """Where the first code-shaped run stands in ``text`` (start, end), checked or not."""
    # Upper case character by character, so positions stay those of ``text``.
    folded = "".join(c.upper() if len(c.upper()) == 1 else c for c in text or "")
    match = _CANDIDATE.search(folded)
    return match.span() if match else None


# A registered name: up to 40 name characters ending in a business form. Bounded repetition
# tried from each start: linear in the message length.
_FORMS = r"有限责任公司|股份有限公司|有限公司|公司|商行|经营部|门市部|工作室|厂"
_NAME = re.compile(rf"[\u4e00-\u9fffA-Za-z0-9（）()]{{2,40}}(?:{_FORMS}|店)")
_COMPANY = re.compile(rf"[\u4e00-\u9fffA-Za-z0-9（）()]{{2,40}}(?:{_FORMS})")
_ASK = re.compile(r"^(?:帮我|请)?(?:查一下|查一查|查查|查询一下|查询|查)(?:这家|这个|一下)?")
_NOT_NAMES = frozenset({"这家店", "这个店", "这家公司", "这个公司", "公司", "店"})


def find_name(text: str, *, shops: bool = True) -> str | None:
    """A business name in a message ("查一下深圳市某某有限公司"), None when there is none;
    ``shops=False`` takes only registered company forms, not a shop's "…店"."""
    folded = unicodedata.normalize("NFKC", text).strip()
    folded = _ASK.sub("", folded)
    match = (_NAME if shops else _COMPANY).search(folded)
    if match is None:
        return None
    name = match.group(0)
    return None if name in _NOT_NAMES else name
