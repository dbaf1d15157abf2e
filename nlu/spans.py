"""Shared pieces of the extractors: the candidate span type and digit normalisation."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

# Full-width digits, Latin letters and the punctuation that appears inside numbers map to
# ASCII one character for one character, so offsets found in the normalised text are valid
# offsets into the original text. Chinese sentence punctuation (，。) is left alone.
_FULL_WIDTH = {chr(c): chr(c - 0xFEE0) for c in range(0xFF10, 0xFF1A)}
_FULL_WIDTH |= {chr(c): chr(c - 0xFEE0) for c in range(0xFF21, 0xFF3B)}
_FULL_WIDTH |= {chr(c): chr(c - 0xFEE0) for c in range(0xFF41, 0xFF5B)}
_FULL_WIDTH |= {"＋": "+", "－": "-", "．": ".", "／": "/", "：": ":", "＃": "#", "\u3000": " "}
_FULL_WIDTH |= {"\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-"}
_TABLE = str.maketrans(_FULL_WIDTH)

_SEPARATORS_IN_DIGITS = re.compile(r"(?<=[0-9])[ \t\-]+(?=[0-9])")


class Found(NamedTuple):
    """A candidate entity in the normalised text; ``cued`` says context backs it up."""

    entity: str
    start: int
    end: int
    value: Any
    cued: bool = True


def normalize_digits(text: str, *, strip_separators: bool = False) -> str:
    """Map full-width digits/letters to ASCII; optionally drop spaces and dashes in digit runs.

    Without ``strip_separators`` the result has the same length as ``text``, which is what
    lets extractors report offsets into the original message.
    """
    out = text.translate(_TABLE)
    if strip_separators:
        out = _SEPARATORS_IN_DIGITS.sub("", out)
    return out


def digits_only(text: str) -> str:
    """The ASCII digits of ``text`` (after full-width mapping), in order."""
    return "".join(ch for ch in normalize_digits(text) if "0" <= ch <= "9")
