"""Knowledge entries from ``data/*.yml``, retrieved with jieba tokens and BM25.

Short chat questions share few words with the answers, so entries are indexed with their
titles and keywords in both languages, and synonym groups fold 充电宝/移动电源/power bank
into one token. Below a score threshold the honest answer is "I don't know" plus a human.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bm25s
import jieba

from bot.knowledge.articles import load_articles, load_sources
from dialogues.knowledge_port import KnowledgeAnswer, RelatedEntry
from nlu.datafile import read_yaml

DATA_DIR = Path(__file__).parent / "data"
_WORD = re.compile(r"[\w.]+", re.UNICODE)
# The longest message a channel accepts; longer text is cut before tokenising.
MAX_QUESTION = 4000


@dataclass(frozen=True)
class Entry:
    """One answer the bot can give, in zh and en, with where it comes from."""

    id: str
    topic: str
    title: dict[str, str]
    body: dict[str, str]
    keywords: tuple[str, ...]
    source: str  # provenance, for maintainers
    cite: dict[str, str]  # the official basis, shown to users in their language
    rule: dict[str, Any] | None = None
    category: str | None = None  # product category, for typical cases
    triggers: tuple[str, ...] = ()  # words that send a message to this entry (referrals)
    index_text: str = ""  # what retrieval reads besides title and keywords (default: body)


def load_entries(data_dir: Path = DATA_DIR) -> list[Entry]:
    """Every entry of every data file; refuses an entry without a source or a language."""
    entries: list[Entry] = []
    table = load_sources(data_dir)
    for path in sorted(data_dir.glob("*.yml")):
        data = read_yaml(path) or {}
        for raw in [*data.get("entries", []), *load_articles(path, table)]:
            for key in (
                "title_zh",
                "title_en",
                "body_zh",
                "body_en",
                "source",
                "cite_zh",
                "cite_en",
            ):
                if not raw.get(key):
                    raise ValueError(f"{path.name}: entry {raw.get('id')!r} has no {key}")
            entries.append(
                Entry(
                    id=raw["id"],
                    topic=raw["topic"],
                    title={"zh": raw["title_zh"], "en": raw["title_en"]},
                    body={"zh": raw["body_zh"].strip(), "en": raw["body_en"].strip()},
                    keywords=tuple(str(k) for k in raw.get("keywords", [])),
                    source=raw["source"],
                    cite={"zh": raw["cite_zh"], "en": raw["cite_en"]},
                    rule=raw.get("rule"),
                    category=raw.get("category"),
                    triggers=tuple(str(w) for w in raw.get("triggers", [])),
                    index_text=raw.get("index_text") or f"{raw['body_zh']}\n{raw['body_en']}",
                )
            )
    ids = [e.id for e in entries]
    if len(ids) != len(set(ids)):
        raise ValueError("duplicate knowledge entry ids")
    return entries


class Tokenizer:
    """jieba with our vocabulary, synonym folding and stop words."""

    def __init__(self, groups: list[list[str]], stopwords: list[str], extra_words: list[str]):
        jieba.setLogLevel(logging.WARNING)
        self._jieba = jieba.Tokenizer()
        self._canonical: dict[str, str] = {}
        self._phrases: list[tuple[str, str]] = []
        for group in groups:
            canonical = _fold(str(group[0]))
            for word in map(str, group):
                folded = _fold(word)
                if " " in folded:
                    self._phrases.append((folded, canonical))
                else:
                    self._canonical[folded] = canonical
        for word in [*self._canonical, *map(_fold, extra_words)]:
            if " " not in word:
                self._jieba.add_word(word, freq=200_000)
        self._phrases.sort(key=lambda p: len(p[0]), reverse=True)
        self._stop = {_fold(w) for w in stopwords}

    def __call__(self, text: str) -> list[str]:
        folded = _fold(text)
        for phrase, canonical in self._phrases:
            folded = folded.replace(phrase, f" {canonical} ")
        tokens: list[str] = []
        for piece in self._jieba.cut_for_search(folded):
            piece = piece.strip()
            if not piece or not _WORD.fullmatch(piece) or piece in self._stop:
                continue
            tokens.append(self._canonical.get(piece, piece))
        return tokens


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().strip()


class KnowledgeBase:
    """BM25 over the entries; ``ask`` returns the best entry or an honest don't-know.

    Two bars guard against a wrong answer, which misleads more than a don't-know: the best
    score must reach ``min_score``, and it must lead the runner-up by ``min_margin`` (a share
    of the best score). A referral's trigger word (tobacco → 12313) decides before both.
    """

    def __init__(
        self,
        entries: list[Entry],
        tokenizer: Tokenizer,
        *,
        min_score: float,
        min_margin: float = 0.0,
        keyword_weight: int = 2,
    ) -> None:
        self.entries = entries
        self.min_score = min_score
        self.min_margin = min_margin
        self._tokenize = tokenizer
        corpus = [
            tokenizer(
                " ".join(
                    [
                        e.title["zh"],
                        e.title["en"],
                        *(list(e.keywords) * keyword_weight),
                        e.index_text,
                    ]
                )
            )
            for e in entries
        ]
        self._bm25 = bm25s.BM25()
        self._bm25.index(corpus, show_progress=False)
        triggers = {_fold(w): e for e in entries for w in e.triggers}
        self._triggers = triggers
        self._trigger_re = _word_regex(triggers)

    @classmethod
    def load(
        cls,
        data_dir: Path = DATA_DIR,
        *,
        min_score: float | None = None,
        min_margin: float | None = None,
    ) -> KnowledgeBase:
        entries = load_entries(data_dir)
        settings = read_yaml(data_dir / "synonyms.yml")
        extra = [k for e in entries for k in e.keywords]
        tokenizer = Tokenizer(settings["groups"], settings.get("stopwords", []), extra)
        knobs = settings["settings"]
        return cls(
            entries,
            tokenizer,
            min_score=float(knobs["min_score"] if min_score is None else min_score),
            min_margin=float(knobs.get("min_margin", 0.0) if min_margin is None else min_margin),
            keyword_weight=int(knobs.get("keyword_weight", 2)),
        )

    def get(self, entry_id: str) -> Entry | None:
        return next((e for e in self.entries if e.id == entry_id), None)

    def scores(self, question: str) -> list[tuple[float, Entry]]:
        """Entries by descending BM25 score (zero scores dropped)."""
        tokens = self._tokenize(question[:MAX_QUESTION])
        if not tokens:
            return []
        raw = self._bm25.get_scores(tokens)
        ranked = sorted(zip(raw.tolist(), self.entries, strict=True), key=lambda p: -p[0])
        return [(score, entry) for score, entry in ranked if score > 0]

    def refer(self, question: str) -> KnowledgeAnswer | None:
        """The referral whose trigger word the question contains (tobacco → 12313), if any."""
        if self._trigger_re is None:
            return None
        found = self._trigger_re.search(_fold(question[:MAX_QUESTION]))
        if found is None:
            return None
        # A trigger is not a retrieval score: 0.0 says so (the entry is found all the same).
        return self._answer(question, self._triggers[found.group(0)], score=0.0)

    def ask(self, question: str) -> KnowledgeAnswer:
        referred = self.refer(question)
        if referred is not None:
            return referred
        ranked = self.scores(question)
        best = ranked[0][0] if ranked else 0.0
        if not ranked or best < self.min_score or not self._clear_lead(ranked):
            return KnowledgeAnswer(query=question, found=False, score=best, offer_human=True)
        score, entry = ranked[0]
        related = tuple(RelatedEntry(e.id, e.title) for s, e in ranked[1:3] if s >= self.min_score)
        category = entry.category
        if entry.topic == "cases":
            # "充电宝的典型案例": the category comes from the best category entry named.
            category = next(
                (e.category for s, e in ranked[1:] if e.category and s >= self.min_score), None
            )
            related = ()
        return self._answer(question, entry, score=score, related=related, category=category)

    def _clear_lead(self, ranked: list[tuple[float, Entry]]) -> bool:
        if len(ranked) < 2:
            return True
        first, second = ranked[0][0], ranked[1][0]
        return first - second >= self.min_margin * first

    def _answer(
        self,
        question: str,
        entry: Entry,
        *,
        score: float,
        related: tuple[RelatedEntry, ...] = (),
        category: str | None = None,
    ) -> KnowledgeAnswer:
        return KnowledgeAnswer(
            query=question,
            found=True,
            score=score,
            entry_id=entry.id,
            title=entry.title,
            body=entry.body,
            source=entry.source,
            cite=entry.cite,
            related=related,
            topic=entry.topic,
            category=category if category is not None else entry.category,
        )


def _word_regex(words: dict[str, Entry]) -> re.Pattern[str] | None:
    """One alternation, longest first; ASCII words match whole words only (linear scan)."""
    parts = []
    for word in sorted(words, key=len, reverse=True):
        body = re.escape(word)
        if word[0].isascii() and word[0].isalnum():
            body = r"(?<![a-z0-9])" + body
        if word[-1].isascii() and word[-1].isalnum():
            body += r"(?![a-z0-9])"
        parts.append(body)
    return re.compile("|".join(parts)) if parts else None
