"""Cutting long replies into Telegram-sized messages at sentence boundaries."""

from __future__ import annotations

import re

# Telegram's limit is 4,096 characters counted in UTF-16 code units (an emoji counts twice).
MESSAGE_LIMIT = 4096
# Preferred cut points, best first: paragraph, line, sentence end, clause, any space.
_BOUNDARIES = (
    re.compile(r"\n\s*\n"),
    re.compile(r"\n"),
    re.compile(r"(?<=[.!?])\s+|(?<=[。！？…])"),
    re.compile(r"(?<=[;；,，:：])\s*"),
    re.compile(r"\s+"),
)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _fitting_prefix(text: str, limit: int) -> int:
    """The number of characters of ``text`` that fit in ``limit`` UTF-16 units."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def _cut(window: str) -> int:
    """Where to end the first part within ``window``: the last good boundary past halfway."""
    for boundary in _BOUNDARIES:
        ends = [m.end() for m in boundary.finditer(window) if m.end() >= len(window) // 2]
        if ends:
            return ends[-1]
    return len(window)


def split_text(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Parts of at most ``limit`` UTF-16 units, cut where a reader would pause."""
    parts: list[str] = []
    rest = text
    while utf16_len(rest) > limit:
        window = rest[: _fitting_prefix(rest, limit)]
        end = _cut(window)
        part = rest[:end].rstrip()
        if part:
            parts.append(part)
        rest = rest[end:].lstrip()
    if rest.strip() or not parts:
        parts.append(rest)
    return parts
