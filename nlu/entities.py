"""Entity extraction and normalisation: the rule fallback's extractor and Rasa's normaliser.

The parsers live in small modules by concept (numbers, dates, identifiers, lexicon); this
module is the public surface and decides which candidate wins when spans overlap.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from nlu.dates import find_dates, parse_date
from nlu.identifiers import (
    find_case_ids,
    find_cert_numbers,
    find_id_numbers,
    find_order_numbers,
    find_phones,
    parse_case_id,
    parse_cert_no,
    parse_id_number,
    parse_order_no,
    parse_phone,
)
from nlu.lexicon import brands, find_person_names, parse_platform, platforms, products
from nlu.numbers import find_amounts, parse_amount
from nlu.spans import Found, Squeezed, normalize_digits
from nlu.types import Entity

__all__ = [
    "extract",
    "json_amount",
    "normalize_digits",
    "parse_amount",
    "parse_case_id",
    "parse_cert_no",
    "parse_date",
    "parse_id_number",
    "parse_order_no",
    "parse_phone",
    "parse_platform",
]

# When spans overlap, the earlier type wins: fixed-shape identifiers are the most certain.
PRIORITY: tuple[str, ...] = (
    "case_id",
    "id_number",
    "order_no",
    "cert_no",
    "phone",
    "date",
    "amount",
    "platform",
    "person_name",
    "product",
    "brand",
)
# A product and a brand may share a span: 茅台 is both the liquor and its maker.
_MAY_SHARE = frozenset({"product", "brand"})


def json_amount(value: Decimal) -> int | float:
    """An amount as a JSON number: int when whole (399), else float (88.8)."""
    return int(value) if value == value.to_integral_value() else float(value)


def _candidates(text: str, now: datetime) -> Iterator[Found]:
    yield from find_case_ids(text)
    yield from find_id_numbers(text)
    yield from find_order_numbers(text)
    yield from find_cert_numbers(text)
    yield from find_phones(text)
    yield from (f for f in find_dates(text, now) if f.cued)
    yield from (f for f in find_amounts(text) if f.cued)
    yield from platforms().find(text)
    yield from find_person_names(text)
    yield from products().find(text)
    yield from brands().find(text)


def resolve(candidates: Iterable[Found], length: int) -> list[Found]:
    """Keep the best non-overlapping candidates: by type priority, then longer, then earlier.

    Occupancy is tracked per character, so long hostile texts do not go quadratic.
    """
    rank = {name: i for i, name in enumerate(PRIORITY)}
    ordered = sorted(
        candidates, key=lambda f: (rank.get(f.entity, len(rank)), f.start - f.end, f.start)
    )
    hard = bytearray(length)
    shared = {name: bytearray(length) for name in _MAY_SHARE}
    kept: list[Found] = []
    for cand in ordered:
        s, e = cand.start, cand.end
        if any(hard[s:e]):
            continue
        if cand.entity in shared:
            if any(shared[cand.entity][s:e]):
                continue
            shared[cand.entity][s:e] = b"\x01" * (e - s)
        else:
            if any(any(occupied[s:e]) for occupied in shared.values()):
                continue
            hard[s:e] = b"\x01" * (e - s)
        kept.append(cand)
    return sorted(kept, key=lambda f: (f.start, rank.get(f.entity, len(rank))))


def _json_value(found: Found) -> Any:
    if isinstance(found.value, Decimal):
        return json_amount(found.value)
    return found.value


def extract(text: str, now: datetime) -> list[Entity]:
    """All entities in ``text`` with offsets into the original string and normalised values.

    The extractors read the text with whitespace runs squeezed (their patterns only bridge
    short gaps); the spans they find are mapped back to the original.
    A bare number is not an amount here (it could be anything); it needs 元/块/花了/￥ etc.
    Likewise 10.3 or 15号 count as dates only with a purchase word or sentence context.
    """
    squeezed = Squeezed(text)
    kept = resolve(_candidates(squeezed.text, now), len(squeezed.text))
    entities = []
    for f in kept:
        start, end = squeezed.span(f.start, f.end)
        entities.append(
            Entity(
                entity=f.entity,
                value=_json_value(f),
                start=start,
                end=end,
                text=text[start:end],
            )
        )
    return entities
