"""The CCC catalogue from ``data/catalogue.yml``: which products need CCC, from when.

Answers are date-aware because the catalogue changes (power banks from 2024-08-01, e-bike
batteries from 2025-11-01): a purchase in 2023 is judged by the rules of 2023.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from dialogues.knowledge_port import CatalogueAnswer, Requirement
from nlu.datafile import read_yaml

CATALOGUE_FILE = Path(__file__).parent / "data" / "catalogue.yml"
_MODES = {"certificate", "self_declaration", "conflicting", "not_in_ccc"}


@dataclass(frozen=True)
class Product:
    """One catalogue entry with its everyday aliases."""

    id: str
    zh: str
    en: str
    aliases: tuple[str, ...]
    mode: str
    category: str | None
    cert_codes: tuple[str, ...]
    effective_from: date | None
    applications_from: date | None
    instead: dict[str, str]
    note: dict[str, str]
    source: str


def _product(raw: dict[str, Any]) -> Product:
    mode = raw["mode"]
    if mode not in _MODES:
        raise ValueError(f"catalogue product {raw['id']}: unknown mode {mode!r}")
    if not raw.get("source"):
        raise ValueError(f"catalogue product {raw['id']}: every entry needs a source")
    aliases = tuple(dict.fromkeys([raw["zh"], raw["en"], *raw.get("aliases", [])]))
    return Product(
        id=raw["id"],
        zh=raw["zh"],
        en=raw["en"],
        aliases=aliases,
        mode=mode,
        category=raw.get("category"),
        cert_codes=tuple(str(c) for c in raw.get("cert_codes", [])),
        effective_from=raw.get("effective_from"),
        applications_from=raw.get("applications_from"),
        instead={k[-2:]: v for k, v in raw.items() if k.startswith("instead_")},
        note={k[-2:]: v for k, v in raw.items() if k.startswith("note_")},
        source=raw["source"],
    )


class Catalogue:
    """Product lookup by alias (longest alias wins in running text) and requirement answers."""

    def __init__(self, products: list[Product], meta: dict[str, Any]) -> None:
        self.products = products
        self.meta = meta
        self._by_alias: dict[str, Product] = {}
        for product in products:
            for alias in product.aliases:
                self._by_alias.setdefault(alias.casefold(), product)
        # Longest first, so 电动车电池 beats 电动车 and 手机充电器 beats 手机.
        self._aliases = sorted(self._by_alias, key=len, reverse=True)

    @classmethod
    def load(cls, path: Path = CATALOGUE_FILE) -> Catalogue:
        data = read_yaml(path)
        return cls([_product(p) for p in data["products"]], data.get("meta", {}))

    def get(self, product_id: str) -> Product | None:
        return next((p for p in self.products if p.id == product_id), None)

    def lookup(self, name: str) -> Product | None:
        """The product a user's word names: exact alias first, then an alias inside it."""
        key = name.strip().casefold()
        if not key:
            return None
        if key in self._by_alias:
            return self._by_alias[key]
        found = self.find_in_text(name)
        return found[0] if found else None

    def find_in_text(self, text: str) -> list[Product]:
        """Products named in running text, in order of first mention, longest alias first."""
        folded = text.casefold()
        taken = [False] * len(folded)
        hits: list[tuple[int, Product]] = []
        for alias in self._aliases:
            start = folded.find(alias)
            while start >= 0:
                end = start + len(alias)
                if not any(taken[start:end]) and _word_bounded(folded, start, end, alias):
                    taken[start:end] = [True] * (end - start)
                    hits.append((start, self._by_alias[alias]))
                start = folded.find(alias, end)
        ordered: list[Product] = []
        for _, product in sorted(hits, key=lambda h: h[0]):
            if product not in ordered:
                ordered.append(product)
        return ordered

    def answer(self, query: str, *, on: date, product: Product | None = None) -> CatalogueAnswer:
        """Whether the product named by ``query`` needs CCC on ``on``."""
        product = product or self.lookup(query)
        if product is None:
            return CatalogueAnswer(query=query, on=on, requirement=Requirement.UNKNOWN)
        return CatalogueAnswer(
            query=query,
            on=on,
            requirement=_requirement(product, on),
            product_id=product.id,
            name_zh=product.zh,
            name_en=product.en,
            cert_codes=product.cert_codes,
            effective_from=product.effective_from,
            applications_from=product.applications_from,
            instead=product.instead,
            note=product.note,
            source=product.source,
        )


def _word_bounded(text: str, start: int, end: int, alias: str) -> bool:
    """ASCII aliases must be whole words ('pc' is not inside 'pcs'); CJK needs no bounds."""
    if not alias.isascii():
        return True
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    return not (before.isascii() and before.isalnum()) and not (after.isascii() and after.isalnum())


def _requirement(product: Product, on: date) -> Requirement:
    if product.mode == "not_in_ccc":
        return Requirement.NOT_IN_CCC
    if product.mode == "conflicting":
        return Requirement.CONFLICTING
    if product.effective_from is not None and on < product.effective_from:
        return Requirement.NOT_YET
    if product.mode == "self_declaration":
        return Requirement.SELF_DECLARATION
    return Requirement.REQUIRED


@cache
def default_catalogue() -> Catalogue:
    return Catalogue.load()
