"""Dictionary-driven entities (platform, product, brand, person name) from YAML in data_rules/."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from nlu.datafile import read_yaml
from nlu.spans import Found, normalize_digits, squeeze_space

DATA_DIR = Path(__file__).parent / "data_rules"


@cache
def load_yaml(name: str) -> dict[str, Any]:
    """A data file from ``nlu/data_rules``, read once per process."""
    data = read_yaml(DATA_DIR / name)
    if not isinstance(data, dict):
        raise ValueError(f"{name}: expected a mapping at the top level")
    return data


@dataclass(frozen=True)
class Guard:
    """Contexts in which an alias is not the entity (手机 in 手机号, 包 in 包邮)."""

    not_followed_by: tuple[str, ...] = ()
    not_preceded_by: tuple[str, ...] = ()

    def blocks(self, text: str, start: int, end: int) -> bool:
        after = text[end : end + 4].lower()
        before = text[max(0, start - 4) : start].lower()
        return any(after.startswith(w) for w in self.not_followed_by) or any(
            before.endswith(w) for w in self.not_preceded_by
        )


def _alias_pattern(alias: str) -> str:
    """Regex for one alias; Latin/digit edges must not touch more Latin letters or digits."""
    body = re.escape(alias)
    if alias[0].isascii() and alias[0].isalnum():
        body = r"(?<![A-Za-z0-9])" + body
    if alias[-1].isascii() and alias[-1].isalnum():
        body += r"(?![A-Za-z0-9])"
    return body


class Gazetteer:
    """Longest-alias-first matcher from canonical name → aliases."""

    def __init__(
        self, entity: str, table: Mapping[str, list[Any]], guards: Mapping[str, Guard]
    ) -> None:
        self.entity = entity
        self._canonical: dict[str, str] = {}
        for canonical, aliases in table.items():
            for alias in [canonical, *aliases]:
                self._canonical.setdefault(str(alias).lower(), str(canonical))
        ordered = sorted(self._canonical, key=len, reverse=True)
        self._pattern = re.compile("|".join(_alias_pattern(a) for a in ordered), re.IGNORECASE)
        self._guards = {k.lower(): v for k, v in guards.items()}

    def find(self, text: str) -> Iterator[Found]:
        norm = normalize_digits(text)
        for m in self._pattern.finditer(norm):
            alias = m.group().lower()
            guard = self._guards.get(alias)
            if guard and guard.blocks(norm, m.start(), m.end()):
                continue
            yield Found(self.entity, m.start(), m.end(), self._canonical[alias])

    def canonical(self, text: str) -> str | None:
        return next((str(f.value) for f in self.find(text)), None)


def _guards(raw: Mapping[str, Any] | None) -> dict[str, Guard]:
    return {
        str(alias): Guard(
            tuple(str(w).lower() for w in spec.get("not_followed_by", ())),
            tuple(str(w).lower() for w in spec.get("not_preceded_by", ())),
        )
        for alias, spec in (raw or {}).items()
    }


@cache
def platforms() -> Gazetteer:
    return Gazetteer("platform", load_yaml("platforms.yml")["platforms"], {})


@cache
def products() -> Gazetteer:
    data = load_yaml("lexicon.yml")
    return Gazetteer("product", data["products"], _guards(data.get("guards")))


@cache
def english_names() -> dict[str, str]:
    """Canonical product and brand → how it reads in an English conversation."""
    return {str(k): str(v) for k, v in (load_yaml("lexicon.yml").get("english") or {}).items()}


@cache
def brands() -> Gazetteer:
    data = load_yaml("lexicon.yml")
    return Gazetteer("brand", data["brands"], _guards(data.get("guards")))


@dataclass(frozen=True)
class NameRules:
    """How a person's name is read after cues such as 我叫 / 姓名 / 我是 (surname needed)."""

    cues: re.Pattern[str]
    strict: frozenset[str]
    stop_chars: frozenset[str]
    surnames: frozenset[str]
    compound_surnames: tuple[str, ...]
    not_names: tuple[str, ...]

    def plausible(self, name: str) -> bool:
        """After 我是, only a known surname that does not open a place or role counts."""
        if name.startswith(self.not_names):
            return False
        return name[0] in self.surnames or name.startswith(self.compound_surnames)


@cache
def name_rules() -> NameRules:
    data = load_yaml("lexicon.yml")["person_name"]
    cues = [str(c) for c in (*data["cues"], *data["strict_cues"])]
    alternation = "|".join(re.escape(c) for c in sorted(cues, key=len, reverse=True))
    return NameRules(
        cues=re.compile(
            rf"(?P<cue>{alternation})\s{{0,3}}(?:[:：]\s{{0,3}})?(?P<name>[\u4e00-\u9fff]{{2,4}})"
        ),
        strict=frozenset(str(c) for c in data["strict_cues"]),
        stop_chars=frozenset(str(data["stop_chars"])),
        surnames=frozenset(str(data["surnames"])),
        compound_surnames=tuple(str(s) for s in data["compound_surnames"]),
        not_names=tuple(str(s) for s in data.get("not_names", ())),
    )


def find_person_names(text: str) -> Iterator[Found]:
    """2-4 Han characters after a naming cue, cut at the first particle or verb."""
    rules = name_rules()
    for m in rules.cues.finditer(text):
        raw = m["name"]
        cut = next((i for i, ch in enumerate(raw) if ch in rules.stop_chars), len(raw))
        name = raw[:cut]
        if len(name) < 2:
            continue
        if m["cue"] in rules.strict and not rules.plausible(name):
            continue
        start = m.start("name")
        yield Found("person_name", start, start + len(name), name)


def parse_platform(text: str) -> str | None:
    """Canonical platform name (淘宝, 京东, ..., 线下) for the first platform mentioned."""
    return platforms().canonical(squeeze_space(text))
