"""Holder, manufacturer and model as printed against the registry's, after normalisation.

Labels, registry exports and OCR differ in width (ＡＢＣ/ABC), case, spaces, hyphens and
company suffixes (有限公司, Co., Ltd.); none of that makes a different company or model.
A model matches when it equals the certificate's model or one listed in its model range.
"""

from __future__ import annotations

import re
import unicodedata

# Spaces, hyphens and dashes of every width, underscores, middle dots: dropped in models.
_MODEL_NOISE = re.compile(r"[\s\u3000\-‐‑‒–—―－_·]+")
# Dropped in company names as well: punctuation around suffixes and brackets.
_COMPANY_NOISE = re.compile(r"[\s\u3000\-‐‑‒–—―－_·.,，。、()（）\[\]【】&]+")
# Suffixes that say only "a company", longest first; stripped repeatedly from the end.
_SUFFIXES = (
    "股份有限公司",
    "有限责任公司",
    "有限公司",
    "公司",
    "companylimited",
    "colimited",
    "coltd",
    "corporation",
    "company",
    "limited",
    "corp",
    "inc",
    "ltd",
    "llc",
    "gmbh",
    "co",
)
# Separators inside a certificate's model range: "PB-2000, PB-2000S、PB-3000；PB-4000/PB-5000".
_RANGE_SPLIT = re.compile(r"[,，、;；/\n]+|\s和\s|\s及\s")
# A trailing note in brackets ("（外观颜色不同）") is not part of the model.
_TRAILING_NOTE = re.compile(r"[（(][^（()）]*[)）]$")
# Shorter normalised names than this never count as contained in a longer one.
MIN_CONTAINED = 4


def _width(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def normalise_model(text: str) -> str:
    return _MODEL_NOISE.sub("", _width(text))


def normalise_company(text: str) -> str:
    name = _COMPANY_NOISE.sub("", _width(text))
    stripped = True
    while stripped:
        stripped = False
        for suffix in _SUFFIXES:
            if name.endswith(suffix) and len(name) > len(suffix):
                name = name[: -len(suffix)]
                stripped = True
                break
    return name


# Characters OCR confuses in model numbers (IC-1700 read as 1C-1700): compared as one.
_LOOKALIKES = str.maketrans({"i": "1", "l": "1", "|": "1", "o": "0", "q": "0"})


def model_range(registered: str) -> set[str]:
    """The normalised models a certificate covers (its whole model field, and each listed)."""
    models = {normalise_model(registered)}
    for part in _RANGE_SPLIT.split(registered):
        part = _TRAILING_NOTE.sub("", part.strip()).strip()
        if part:
            models.add(normalise_model(part))
    models.discard("")
    return models


def model_matches(printed: str, registered: str) -> bool:
    """Equal after normalisation, or after folding letters OCR mistakes for digits: a misread
    must not turn into "this label shows another model"."""
    value = normalise_model(printed)
    if not value:
        return False
    covered = model_range(registered)
    if value in covered:
        return True
    folded = value.translate(_LOOKALIKES)
    return any(folded == m.translate(_LOOKALIKES) for m in covered)


def company_matches(printed: str, registered: str) -> bool:
    """Equal after normalisation, or one holds the other when the shorter is a real name
    (labels shorten 深圳市安新电子有限公司 to 安新电子; that is not someone else)."""
    a, b = normalise_company(printed), normalise_company(registered)
    if not a or not b:
        return False
    if a == b:
        return True
    short, long = sorted((a, b), key=len)
    return len(short) >= MIN_CONTAINED and short in long
