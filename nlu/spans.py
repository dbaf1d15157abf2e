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
# Two or more whitespace characters in a row; understanding treats them as one space, so
# every pattern downstream can use a bounded gap (\s{0,3}) and still meet padded input.
_SPACE_RUN = re.compile(r"\s{2,}")


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


def squeeze_space(text: str) -> str:
    """Each run of whitespace as one space: the text every extractor reads.

    Done once where text enters understanding, so no pattern has to cross a long gap.
    """
    return _SPACE_RUN.sub(" ", text)


class Squeezed:
    """``text`` with whitespace runs squeezed, and the way back to offsets in the original."""

    def __init__(self, original: str) -> None:
        parts: list[str] = []
        # origin[i]: where squeezed character i starts in ``original``; one extra at the end.
        self._origin: list[int] = []
        self._run_end: dict[int, int] = {}
        last = 0
        for m in _SPACE_RUN.finditer(original):
            parts += (original[last : m.start()], " ")
            self._origin += range(last, m.start() + 1)
            self._run_end[m.start()] = last = m.end()
        parts.append(original[last:])
        self._origin += range(last, len(original) + 1)
        self.text = "".join(parts)

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original offsets of the squeezed span ``[start, end)``."""
        if start >= end:
            return self._origin[start], self._origin[start]
        last = self._origin[end - 1]
        return self._origin[start], self._run_end.get(last, last + 1)
