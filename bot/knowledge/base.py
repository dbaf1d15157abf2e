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
import yaml

from dialogues.knowledge_port import KnowledgeAnswer, RelatedEntry

DATA_DIR = Path(__file__).parent / "data"
_WORD = re.compile(r"[\w.]+", re.UNICODE)


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


def load_entries(data_dir: Path = DATA_DIR) -> list[Entry]:
    """Every entry of every data file; refuses an entry without a source or a language."""
    entries: list[Entry] = []
    for path in sorted(data_dir.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for raw in data.get("entries", []):
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
    """BM25 over the entries; ``ask`` returns the best entry or an honest don't-know."""

    def __init__(self, entries: list[Entry], tokenizer: Tokenizer, *, min_score: float) -> None:
        self.entries = entries
        self.min_score = min_score
        self._tokenize = tokenizer
        corpus = [
            tokenizer(
                " ".join(
                    [
                        e.title["zh"],
                        e.title["en"],
                        *e.keywords,
                        *e.keywords,
                        e.body["zh"],
                        e.body["en"],
                    ]
                )
            )
            for e in entries
        ]
        self._bm25 = bm25s.BM25()
        self._bm25.index(corpus, show_progress=False)

    @classmethod
    def load(cls, data_dir: Path = DATA_DIR, *, min_score: float | None = None) -> KnowledgeBase:
        entries = load_entries(data_dir)
        settings = yaml.safe_load((data_dir / "synonyms.yml").read_text(encoding="utf-8"))
        extra = [k for e in entries for k in e.keywords]
        tokenizer = Tokenizer(settings["groups"], settings.get("stopwords", []), extra)
        threshold = settings["settings"]["min_score"] if min_score is None else min_score
        return cls(entries, tokenizer, min_score=float(threshold))

    def get(self, entry_id: str) -> Entry | None:
        return next((e for e in self.entries if e.id == entry_id), None)

    def scores(self, question: str) -> list[tuple[float, Entry]]:
        """Entries by descending BM25 score (zero scores dropped)."""
        tokens = self._tokenize(question)
        if not tokens:
            return []
        raw = self._bm25.get_scores(tokens)
        ranked = sorted(zip(raw.tolist(), self.entries, strict=True), key=lambda p: -p[0])
        return [(score, entry) for score, entry in ranked if score > 0]

    def ask(self, question: str) -> KnowledgeAnswer:
        ranked = self.scores(question)
        if not ranked or ranked[0][0] < self.min_score:
            best = ranked[0][0] if ranked else 0.0
            return KnowledgeAnswer(query=question, found=False, score=best, offer_human=True)
        score, entry = ranked[0]
        related = tuple(RelatedEntry(e.id, e.title) for s, e in ranked[1:3] if s >= self.min_score)
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
        )
