"""The channel's own sentences (``texts.yml``), kept as data like every other reply text."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from dialogues.texts import DEFAULT_LANGUAGE, language_of
from nlu.datafile import read_yaml

TEXTS = Path(__file__).with_name("texts.yml")


@cache
def _catalogue() -> dict[str, dict[str, str]]:
    data: dict[str, dict[str, str]] = read_yaml(TEXTS)
    return data


def say(locale: str | None, key: str, /, **values: Any) -> str:
    """The text for ``key`` in the user's language (``language_code`` from Telegram)."""
    texts = _catalogue()
    lang = language_of(locale)
    template = texts.get(lang, texts[DEFAULT_LANGUAGE]).get(key) or texts[DEFAULT_LANGUAGE][key]
    return template.format(**values) if values else template
