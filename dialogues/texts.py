"""Reply texts from ``dialogues/texts/<domain>.<lang>.yml``, merged per language."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from nlu.datafile import read_yaml

TEXTS_DIR = Path(__file__).parent / "texts"
LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"


class MissingText(KeyError):
    """A reply key that no text file defines."""


def _flatten(prefix: str, node: Any, out: dict[str, str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), value, out)
    else:
        out[prefix] = str(node)


@cache
def catalogue(lang: str) -> dict[str, str]:
    """All texts of one language, keyed by dotted path (``complaint.ask.phone``)."""
    out: dict[str, str] = {}
    for path in sorted(TEXTS_DIR.glob(f"*.{lang}.yml")):
        data = read_yaml(path) or {}
        _flatten("", data, out)
    return out


def language_of(locale: str | None) -> str:
    """Map a channel locale (``en-US``, ``zh_CN``…) to a language we have texts for."""
    if locale and locale.lower().startswith("en"):
        return "en"
    return DEFAULT_LANGUAGE


def t(lang: str, key: str, /, **values: Any) -> str:
    """The text for ``key`` in ``lang``, formatted with ``values``."""
    texts = catalogue(lang if lang in LANGUAGES else DEFAULT_LANGUAGE)
    try:
        template = texts[key]
    except KeyError:
        raise MissingText(f"{lang}:{key}") from None
    return template.format(**values) if values else template


def has(lang: str, key: str) -> bool:
    return key in catalogue(lang)
