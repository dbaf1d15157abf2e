"""The rule fallback: keyword and regex intents plus nlu.entities, used whenever Rasa is not up.

Keyword tables live in ``data_rules/keywords.yml``; this module only executes them. It never
raises: whatever arrives (empty, huge, emoji, control characters) yields a valid Parse.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from nlu.entities import extract
from nlu.lexicon import load_yaml
from nlu.spans import squeeze_space
from nlu.types import INTENTS, Entity, Parse

log = logging.getLogger(__name__)

# Longer messages are cut before matching: the rules only need the gist, and it bounds cost.
MAX_CHARS = 2000
_PARTICLES = "啊呀吧呢哈啦嘛哦噢呗咯~～了"
_SEPARATOR_AFTER_PREFIX = r"[\s,，.。!！~～、;；:：]"


def _fold(text: str) -> str:
    """NFKC, lower case, control characters removed: the form keywords are matched against."""
    folded = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in folded if unicodedata.category(ch) not in ("Cc", "Cf", "Cs"))


def _bare(folded: str) -> str:
    """The message without punctuation, symbols, spaces or trailing particles (好的呀! → 好的)."""
    kept = "".join(ch for ch in folded if unicodedata.category(ch)[0] not in "PSZC")
    return kept.rstrip(_PARTICLES) or kept


def _compact(folded: str) -> str:
    return "".join(ch for ch in folded if not ch.isspace())


def _keyword_regex(words: Iterable[str]) -> re.Pattern[str] | None:
    """One alternation; ASCII words only match whole words ("hi" not inside "this")."""
    parts = []
    for word in sorted({_fold(str(w)) for w in words if str(w)}, key=len, reverse=True):
        body = re.escape(word)
        if word[0].isascii() and word[0].isalnum():
            body = r"(?<![a-z0-9])" + body
        if word[-1].isascii() and word[-1].isalnum():
            body += r"(?![a-z0-9])"
        parts.append(body)
    return re.compile("|".join(parts)) if parts else None


@dataclass(frozen=True)
class IntentRules:
    """The compiled keyword table of one intent."""

    name: str
    whole: frozenset[str]
    prefix: re.Pattern[str] | None
    strong: re.Pattern[str] | None
    weak: re.Pattern[str] | None
    patterns: tuple[re.Pattern[str], ...]
    entities: frozenset[str]

    @classmethod
    def from_data(cls, name: str, spec: Mapping[str, Any]) -> IntentRules:
        whole = frozenset(
            form
            for w in spec.get("whole", ())
            for form in (_bare(_fold(str(w))), _compact(_fold(str(w))))
            if form
        )
        prefix_words = _keyword_regex(spec.get("prefix", ()))
        prefix = (
            re.compile(rf"^(?:{prefix_words.pattern}){_SEPARATOR_AFTER_PREFIX}")
            if prefix_words
            else None
        )
        return cls(
            name=name,
            whole=whole,
            prefix=prefix,
            strong=_keyword_regex(spec.get("strong", ())),
            weak=_keyword_regex(spec.get("weak", ())),
            patterns=tuple(re.compile(str(p)) for p in spec.get("patterns", ())),
            entities=frozenset(str(e) for e in spec.get("entities", ())),
        )

    def score(
        self, folded: str, forms: tuple[str, str], found: set[str], scores: Mapping[str, float]
    ) -> float:
        """The best score this intent earns on the message (0 when nothing matches)."""
        if any(form in self.whole for form in forms):
            return scores["whole"]
        best = 0.0
        if self.entities & found:
            best = max(best, scores["entity"])
        if any(p.search(folded) for p in self.patterns):
            best = max(best, scores["pattern"])
        if self.strong and self.strong.search(folded):
            best = max(best, scores["strong"])
        if self.prefix and self.prefix.search(folded.lstrip()):
            best = max(best, scores["prefix"])
        if not best and self.weak and self.weak.search(folded):
            best = scores["weak"]
        return best


@dataclass(frozen=True)
class KeywordTable:
    """All intents' rules, their tie-break order and the scores they earn."""

    intents: tuple[IntentRules, ...]
    scores: Mapping[str, float]

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> KeywordTable:
        specs: Mapping[str, Any] = data["intents"]
        unknown = set(specs) - set(INTENTS)
        if unknown:
            raise ValueError(f"keywords.yml names unknown intents: {sorted(unknown)}")
        order = [str(n) for n in data.get("priority", ())]
        order += [n for n in specs if n not in order]
        rules = tuple(IntentRules.from_data(n, specs[n]) for n in order if n in specs)
        return cls(intents=rules, scores={k: float(v) for k, v in data["scores"].items()})


@cache
def default_table() -> KeywordTable:
    return KeywordTable.from_data(load_yaml("keywords.yml"))


class RuleParser:
    """Understands a message with keyword tables and entity extractors alone (source="rules")."""

    def __init__(self, table: KeywordTable | None = None) -> None:
        self.table = table or default_table()

    def parse(self, text: str, now: datetime) -> Parse:
        """Intent, confidence and entities for ``text``; out_of_scope (≤ 0.3) when nothing fits."""
        try:
            return self._parse(text if isinstance(text, str) else str(text), now)
        except Exception:  # a fallback must answer; a bug here is logged, not raised
            log.exception("rule parser failed on a message of %d chars", len(str(text)))
            return Parse(text=str(text), intent="out_of_scope", confidence=0.0, source="rules")

    def _parse(self, text: str, now: datetime) -> Parse:
        head = text[:MAX_CHARS]
        entities = tuple(extract(head, now))
        folded = squeeze_space(_fold(head))
        forms = (_bare(folded), _compact(folded))
        found = {e.entity for e in entities}
        scores = self.table.scores
        best_name, best_score = "", 0.0
        if not any(forms):
            return self._result(text, "out_of_scope", scores["none"], entities)
        for rules in self.table.intents:  # in priority order: a later tie does not win
            score = rules.score(folded, forms, found, scores)
            if score > best_score:
                best_name, best_score = rules.name, score
        if best_name:
            return self._result(text, best_name, best_score, entities)
        if entities:
            return self._result(text, "inform", scores["inform"], entities)
        return self._result(text, "out_of_scope", scores["none"], entities)

    @staticmethod
    def _result(text: str, intent: str, confidence: float, entities: tuple[Entity, ...]) -> Parse:
        return Parse(
            text=text, intent=intent, confidence=confidence, entities=entities, source="rules"
        )
