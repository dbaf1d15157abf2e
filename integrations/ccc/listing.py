"""Listing checks: find the product type and certificate numbers in pasted listing text.

Pure functions; the service does the lookups. Listing text is noisy (phone numbers,
barcodes, order numbers, capacities), so a digit run counts as a certificate number only
when it has a certificate's shape or sits right after a certificate keyword.
"""

from __future__ import annotations

import re

from dialogues.knowledge_port import (
    CatalogueAnswer,
    CertificateCheck,
    CertStatus,
    ListingVerdict,
    Match,
    Requirement,
)
from integrations.ccc.numbers import find_candidates, normalize

_KEYWORD = re.compile(r"(3C|CCC|ＣＣＣ|认证|证书|证号|编号)", re.IGNORECASE)
_KEYWORD_WINDOW = 12


def find_listing_numbers(text: str) -> list[str]:
    """Certificate-number candidates in order, without duplicates."""
    found: list[str] = []
    for chunk, start, _end in find_candidates(text):
        value = normalize(chunk)
        after_keyword = bool(_KEYWORD.search(text[max(0, start - _KEYWORD_WINDOW) : start]))
        shaped = value.isdigit() and len(value) == 16 and value.startswith("20")
        if (after_keyword or shaped) and value not in found:
            found.append(value)
    return found


# A certificate that ran out or was given up: goods made while it was valid may lawfully still
# be sold (FACTS corrections 2026-12-01, about 70 %), so it proves nothing against today's sale.
LAPSED_STATUSES = frozenset({CertStatus.EXPIRED, CertStatus.CANCELLED})


def is_lapsed(check: CertificateCheck) -> bool:
    return check.found and check.status in LAPSED_STATUSES


def is_problem(check: CertificateCheck) -> bool:
    """A number the consumer should act on: malformed, unknown, suspended or revoked, or
    another product's. An expired or cancelled one is ``is_lapsed``, not a problem."""
    if not check.number.ok:
        return True
    if check.registry_unavailable:
        return check.category_match is Match.MISMATCH
    if not check.found:
        return True
    if check.category_match is Match.MISMATCH:
        return True
    return check.status is not CertStatus.VALID and not is_lapsed(check)


def verdict(
    product: CatalogueAnswer | None, checks: tuple[CertificateCheck, ...]
) -> ListingVerdict:
    """One conclusion; a problematic number outranks everything else."""
    if any(is_problem(c) for c in checks):
        return ListingVerdict.PROBLEM
    if any(is_lapsed(c) for c in checks):
        return ListingVerdict.LAPSED
    unavailable = any(c.registry_unavailable for c in checks)
    requirement = product.requirement if product else Requirement.UNKNOWN
    if requirement in (Requirement.NOT_IN_CCC, Requirement.NOT_YET):
        return ListingVerdict.NOT_REQUIRED
    if requirement is Requirement.SELF_DECLARATION:
        return ListingVerdict.SELF_DECLARATION
    if requirement is Requirement.CONFLICTING or unavailable:
        return ListingVerdict.UNCLEAR
    if requirement is Requirement.REQUIRED and not checks:
        return ListingVerdict.MISSING_CERT
    if checks:
        return ListingVerdict.LOOKS_OK
    return ListingVerdict.UNCLEAR


_STEPS: dict[ListingVerdict, tuple[str, ...]] = {
    ListingVerdict.LOOKS_OK: ("verify_official", "check_mark", "keep_evidence"),
    ListingVerdict.LAPSED: ("check_made_on", "verify_official", "keep_evidence", "human"),
    ListingVerdict.PROBLEM: ("verify_official", "keep_evidence", "report", "complain"),
    ListingVerdict.MISSING_CERT: ("ask_seller", "check_mark", "verify_official", "report"),
    ListingVerdict.SELF_DECLARATION: ("check_sdoc", "check_mark"),
    ListingVerdict.NOT_REQUIRED: ("other_rules",),
    ListingVerdict.UNCLEAR: ("verify_official", "human"),
}


def next_steps(result: ListingVerdict) -> tuple[str, ...]:
    return _STEPS[result]
