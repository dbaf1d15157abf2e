"""Certificate numbers: normalise what people type or paste, then validate the shape.

The code tables live in ``data/codes.yml`` so that a new body or category code is a data
change. Shape errors (letters, length, year) stop a lookup; unknown codes only warn, because
our code table is known to be incomplete and the registry is the authority.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from dialogues.knowledge_port import NumberCheck, NumberProblem
from nlu.datafile import read_yaml

DATA_DIR = Path(__file__).parent / "data"
STANDARD_LENGTH = 16
LEGACY_LENGTH = 12

# Separators people put inside numbers: spaces (incl. full-width), dashes, dots.
_SEPARATORS = re.compile(r"[\s\u3000\-‐‑‒–—―－_.·]+")
# A run of letters/digits with single separators between, long enough to be a number try.
_CANDIDATE = re.compile(r"(?<![0-9A-Za-z])[0-9A-Za-z](?:[ \-]?[0-9A-Za-z]){7,24}(?![0-9A-Za-z])")


@dataclass(frozen=True)
class Codes:
    """The number layout facts from ``codes.yml``."""

    first_year: int
    validity_years: int
    bodies: dict[str, dict[str, Any]]
    categories: dict[str, dict[str, Any]]


@cache
def load_codes(path: Path = DATA_DIR / "codes.yml") -> Codes:
    data = read_yaml(path)
    return Codes(
        first_year=int(data["years"]["first"]),
        validity_years=int(data["validity_years"]),
        bodies={str(k): v for k, v in data["bodies"].items()},
        categories={str(k): v for k, v in data["categories"].items()},
    )


def to_halfwidth(text: str) -> str:
    """Full-width digits and letters (０１２ＡＢ) to ASCII; NFKC does exactly this."""
    return unicodedata.normalize("NFKC", text)


def normalize(raw: str) -> str:
    """Drop separators and widen nothing else: '2016-0109 0112 3456' -> '2016010901123456'."""
    return _SEPARATORS.sub("", to_halfwidth(raw)).upper()


def find_candidates(text: str) -> list[tuple[str, int, int]]:
    """Number-like runs in free text with their spans (in the half-width text).

    A run counts when it holds at least 8 digits, so words and short codes are skipped but a
    mistyped number with letters in it is still caught and explained.
    """
    half = to_halfwidth(text)
    out: list[tuple[str, int, int]] = []
    for m in _CANDIDATE.finditer(half):
        chunk = m.group(0)
        if sum(ch.isdigit() for ch in chunk) >= 8:
            out.append((chunk, m.start(), m.end()))
    return out


def extract_number(text: str) -> str:
    """The one number a user meant in ``text``: the first candidate, else the whole text."""
    candidates = find_candidates(text)
    return candidates[0][0] if candidates else text


def validate(raw: str, *, current_year: int, codes: Codes | None = None) -> NumberCheck:
    """Check the shape of one number; never raises, every problem is reported."""
    codes = codes or load_codes()
    value = normalize(raw)
    if not value:
        return NumberCheck(raw, value, (NumberProblem("empty", "error"),))
    letters = "".join(sorted({ch for ch in value if not ch.isdigit()}))
    if letters:
        return NumberCheck(raw, value, (NumberProblem("letters", "error", {"chars": letters}),))
    if len(value) not in (STANDARD_LENGTH, LEGACY_LENGTH):
        problem = NumberProblem(
            "length", "error", {"length": len(value), "expected": STANDARD_LENGTH}
        )
        return NumberCheck(raw, value, (problem,))
    problems: list[NumberProblem] = []
    year = int(value[:4])
    if not codes.first_year <= year <= current_year:
        problems.append(
            NumberProblem(
                "year", "error", {"year": year, "first": codes.first_year, "last": current_year}
            )
        )
    if len(value) == LEGACY_LENGTH:
        problems.append(NumberProblem("legacy", "warning", {"length": LEGACY_LENGTH}))
        return NumberCheck(raw, value, tuple(problems), year=year)
    body, category = value[4:6], value[6:10]
    if body not in codes.bodies:
        problems.append(NumberProblem("unknown_body", "warning", {"body": body}))
    if category not in codes.categories:
        problems.append(NumberProblem("unknown_category", "warning", {"category": category}))
    return NumberCheck(raw, value, tuple(problems), year=year, body=body, category_code=category)
