"""A reading set against the CCC registry and catalogue: status, expiry, category, and whether
the label's holder, manufacturer and model are the certificate's (冒用 otherwise).

Uncertain readings are not looked up: the verdict lists them for the user to confirm
(``Reading.confirmed``) and the check runs again. Wording is the chat's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

from bot.photocheck.fields import identifier_rules
from bot.photocheck.matching import company_matches, model_matches
from bot.photocheck.types import (
    CCC_NUMBER,
    COSMETICS_FILING,
    DRUG_APPROVAL,
    HOLDER,
    MANUFACTURER,
    MODEL,
    SC_LICENCE,
    Agreement,
    Comparison,
    IdentifierCheck,
    Kind,
    Outcome,
    PhotoVerdict,
    ReadField,
    Reading,
)
from dialogues.knowledge_port import (
    Certificate,
    CertificateCheck,
    Requirement,
)
from integrations.ccc import listing
from integrations.ccc.registry import CertificateRegistry
from integrations.ccc.service import CccService, today_shanghai

# Readings below this OCR confidence are confirmed with the user before any lookup.
CONFIRM_BELOW = 0.9
# At most this many certificate numbers from one photo are looked up.
MAX_NUMBERS = 3
_CONFIRMABLE = (CCC_NUMBER, MODEL, HOLDER, MANUFACTURER)
_IDENTIFIERS = (SC_LICENCE, DRUG_APPROVAL, COSMETICS_FILING)

_STEPS: dict[Outcome, tuple[str, ...]] = {
    Outcome.LOOKS_OK: ("verify_official", "check_mark", "keep_evidence"),
    Outcome.MISUSE: ("keep_evidence", "report", "complain", "verify_official"),
    Outcome.PROBLEM: ("verify_official", "keep_evidence", "report", "complain"),
    Outcome.NEEDS_CONFIRMATION: ("confirm",),
    Outcome.UNCLEAR: ("verify_official", "human"),
    Outcome.NO_CERTIFICATE: ("ask_seller", "check_mark", "verify_official"),
    Outcome.OTHER_IDS: ("verify_other",),
    Outcome.NOTHING: ("better_photo",),
}


async def check(
    reading: Reading,
    registry: CertificateRegistry,
    *,
    service: CccService | None = None,
    today: Callable[[], date] = today_shanghai,
    confirm_below: float = CONFIRM_BELOW,
) -> PhotoVerdict:
    """The verdict on one reading; looks numbers up only once every reading used is sure."""
    ccc = service or CccService(registry, today=today)
    identifiers = tuple(_identifier(f) for n in _IDENTIFIERS for f in _distinct(reading, n))
    urls = tuple(q.text for q in reading.qr if q.kind == "url")
    base = {"reading": reading, "mark": reading.ccc_mark, "identifiers": identifiers, "urls": urls}

    if reading.kind is Kind.LISTING:
        result = await ccc.check_listing(reading.text)
        listed = next((c.certificate for c in result.certificates if c.certificate), None)
        return PhotoVerdict(
            outcome=Outcome.LISTING,
            certificates=result.certificates,
            comparisons=_compare(reading, listed) if listed is not None else (),
            listing=result,
            next_steps=result.next_steps,
            **base,  # type: ignore[arg-type]
        )

    to_confirm = tuple(
        f
        for name in _CONFIRMABLE
        if (f := reading.best(name)) is not None
        and not f.confirmed
        and f.confidence < confirm_below
    )
    if to_confirm:
        return _verdict(Outcome.NEEDS_CONFIRMATION, to_confirm=to_confirm, **base)

    numbers = [f.value for f in _distinct(reading, CCC_NUMBER)][:MAX_NUMBERS]
    products = ccc.catalogue.find_in_text(reading.text)
    product_name = products[0].zh if products else None
    day = today()
    answer = ccc.catalogue.answer(product_name, on=day) if product_name else None
    mark_expected = answer is not None and answer.requirement in (
        Requirement.REQUIRED,
        Requirement.SELF_DECLARATION,
    )
    base["mark_expected"] = mark_expected
    if not numbers:
        if identifiers:
            return _verdict(Outcome.OTHER_IDS, **base)
        if reading.kind is Kind.NOTHING:
            return _verdict(Outcome.NOTHING, **base)
        return _verdict(Outcome.NO_CERTIFICATE, **base)

    checks = tuple([await ccc.check_certificate(n, product=product_name, on=day) for n in numbers])
    found = next((c.certificate for c in checks if c.certificate is not None), None)
    comparisons = _compare(reading, found) if found is not None else ()
    return _verdict(
        _outcome(checks, comparisons), certificates=checks, comparisons=comparisons, **base
    )


def _verdict(outcome: Outcome, **parts: object) -> PhotoVerdict:
    return PhotoVerdict(outcome=outcome, next_steps=_STEPS[outcome], **parts)  # type: ignore[arg-type]


def _distinct(reading: Reading, name: str) -> list[ReadField]:
    seen: set[str] = set()
    out: list[ReadField] = []
    for f in reading.all(name):
        if f.value not in seen:
            seen.add(f.value)
            out.append(f)
    return out


def _outcome(checks: tuple[CertificateCheck, ...], comparisons: tuple[Comparison, ...]) -> Outcome:
    if any(listing.is_problem(c) for c in checks):
        return Outcome.PROBLEM
    # Expired or cancelled: goods made while it was valid may still be sold, so no report
    # or 退一赔三 is offered (FACTS corrections 2026-12-01); the status lines say why.
    if any(c.registry_unavailable or listing.is_lapsed(c) for c in checks):
        return Outcome.UNCLEAR
    if any(c.agreement is Agreement.MISMATCH for c in comparisons):
        return Outcome.MISUSE
    return Outcome.LOOKS_OK


def _compare(reading: Reading, cert: Certificate) -> tuple[Comparison, ...]:
    """Model against the model range; a printed holder or manufacturer may be either of the
    certificate's companies (a label often names only one, under either heading)."""
    out: list[Comparison] = []
    model = reading.best(MODEL)
    out.append(_one(MODEL, model, cert.model, model_matches))
    companies = (cert.holder, cert.manufacturer)
    for name, registered in ((HOLDER, cert.holder), (MANUFACTURER, cert.manufacturer)):
        printed = reading.best(name)
        if printed is None or not registered:
            out.append(_one(name, printed, registered, company_matches))
            continue
        agrees = any(company_matches(printed.value, c) for c in companies if c)
        agreement = Agreement.MATCH if agrees else Agreement.MISMATCH
        out.append(Comparison(name, printed.value, registered, agreement))
    return tuple(out)


def _one(
    name: str,
    printed: ReadField | None,
    registered: str,
    matches: Callable[[str, str], bool],
) -> Comparison:
    if printed is None:
        return Comparison(name, "", registered, Agreement.NOT_PRINTED)
    if not registered:
        return Comparison(name, printed.value, "", Agreement.NOT_REGISTERED)
    agreement = Agreement.MATCH if matches(printed.value, registered) else Agreement.MISMATCH
    return Comparison(name, printed.value, registered, agreement)


def _identifier(read: ReadField) -> IdentifierCheck:
    rules = identifier_rules()[read.name]
    verify = dict(rules["verify_at"])
    source = str(rules["source"])
    value = read.value
    if read.name == SC_LICENCE:
        digits = value[2:]
        kind = rules["first_digit"].get(digits[:1])
        if kind is None:
            return IdentifierCheck(read.name, value, False, "category", {}, verify, source)
        return IdentifierCheck(read.name, value, True, "", dict(kind), verify, source)
    if read.name == DRUG_APPROVAL:
        letter = value[4:5]
        kind = rules["letters"].get(letter)
        if kind is None:
            return IdentifierCheck(read.name, value, False, "letter", {"letter": letter},
                                   verify, source)  # fmt: skip
        return IdentifierCheck(read.name, value, True, "", dict(kind), verify, source)
    return _cosmetics(value, rules, verify, source)


def _cosmetics(
    value: str, rules: dict[str, Any], verify: dict[str, str], source: str
) -> IdentifierCheck:
    for prefix, rule in rules["prefixes"].items():
        at = value.find(prefix)
        if at < 0:
            continue
        rest = value[at + len(prefix) :]
        rest = re.sub(r"^[（(][\u4e00-\u9fff][)）]", "", rest)
        letter = rest[:1] if rest[:1].isalpha() and rest[:1].isascii() else ""
        digits = rest[len(letter) :]
        detail = {"zh": rule["zh"], "en": rule["en"]}
        low, high = rule["digits"]
        if rule["letter"] and letter.upper() != rule["letter"]:
            return IdentifierCheck(COSMETICS_FILING, value, False, "letter", detail, verify, source)
        if not (low <= len(digits) <= high) or not digits.isdigit():
            return IdentifierCheck(COSMETICS_FILING, value, False, "length", detail, verify, source)
        return IdentifierCheck(COSMETICS_FILING, value, True, "", detail, verify, source)
    return IdentifierCheck(COSMETICS_FILING, value, False, "prefix", {}, verify, source)
