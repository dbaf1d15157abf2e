"""Reply text for CCC checks, catalogue answers and knowledge answers, in zh or en.

Results arrive as ``dialogues.knowledge_port`` dataclasses; all wording comes from
``dialogues/texts/{ccc,knowledge}.<lang>.yml``. Any answer built on SAMPLE registry data
ends with the sample warning, so invented records are never taken for real ones.
"""

from __future__ import annotations

from datetime import date

from dialogues.knowledge_port import (
    CatalogueAnswer,
    CertificateCheck,
    CertStatus,
    KnowledgeAnswer,
    ListingCheck,
    Match,
    Requirement,
    TypicalCase,
)
from dialogues.texts import t


def format_date(day: date, lang: str) -> str:
    return day.isoformat() if lang == "en" else f"{day.year}年{day.month}月{day.day}日"


def catalogue_reply(answer: CatalogueAnswer, lang: str, *, with_source: bool = True) -> str:
    """Whether the product needs CCC on the answer's date, and what applies otherwise."""
    product = answer.name(lang)
    req = answer.requirement
    if req is Requirement.UNKNOWN:
        return t(lang, "ccc.catalogue.unknown", query=answer.query)
    if req is Requirement.REQUIRED:
        text = t(lang, "ccc.catalogue.required", product=product)
        if answer.effective_from:
            text += t(
                lang, "ccc.catalogue.required_since", date=format_date(answer.effective_from, lang)
            )
    elif req is Requirement.NOT_YET and answer.effective_from is not None:
        text = t(
            lang,
            "ccc.catalogue.not_yet",
            product=product,
            on=format_date(answer.on, lang),
            date=format_date(answer.effective_from, lang),
        )
        if answer.applications_from and answer.applications_from <= answer.on:
            text += t(
                lang,
                "ccc.catalogue.applications_from",
                date=format_date(answer.applications_from, lang),
            )
    elif req is Requirement.NOT_IN_CCC:
        text = t(
            lang, "ccc.catalogue.not_in_ccc", product=product, instead=answer.instead.get(lang, "")
        )
    else:
        text = t(lang, f"ccc.catalogue.{req.value}", product=product)
    lines = [text]
    if lang in answer.note:
        lines.append(answer.note[lang])
    if with_source and answer.source:
        # ``answer.source`` is provenance for maintainers; users get the official basis.
        lines.append(t(lang, "ccc.catalogue.source"))
    return "\n".join(lines)


def _number_lines(check: CertificateCheck, lang: str) -> list[str]:
    number = check.number
    lines = [t(lang, "ccc.number.checked", number=number.normalized or number.raw)]
    for problem in number.problems:
        lines.append(t(lang, f"ccc.number.{problem.code}", **dict(problem.params)))
    return lines


def _certificate_lines(check: CertificateCheck, lang: str) -> list[str]:
    """The record, status and category lines for one checked number (no footer)."""
    lines = _number_lines(check, lang)
    if not check.number.ok:
        return lines
    product_name = check.product.name(lang) if check.product else ""
    category = check.category_name.get(lang, check.number.category_code or "")
    if check.registry_unavailable:
        lines.append(t(lang, "ccc.unavailable"))
    elif check.certificate is None:
        lines.append(t(lang, "ccc.not_found"))
        if check.product and check.product.requirement is Requirement.SELF_DECLARATION:
            lines.append(t(lang, "ccc.self_declaration_hint", product=product_name))
    else:
        cert = check.certificate
        lines.append(
            t(lang, "ccc.record", holder=cert.holder, product=cert.product, model=cert.model)
        )
        status = check.status or cert.status
        lines.append(t(lang, f"ccc.status.{status.value}"))
        if status is CertStatus.EXPIRED and cert.status is CertStatus.VALID and cert.expires_on:
            lines.append(t(lang, "ccc.expired_by_date", date=format_date(cert.expires_on, lang)))
        elif cert.expires_on:
            lines.append(t(lang, "ccc.expires", date=format_date(cert.expires_on, lang)))
    if check.category_match is Match.MISMATCH:
        lines.append(t(lang, "ccc.match.mismatch", category=category, product=product_name))
    elif check.category_match is Match.MATCH and check.found:
        lines.append(t(lang, "ccc.match.match", category=category, product=product_name))
    return lines


def certificate_reply(check: CertificateCheck, lang: str) -> str:
    """Everything about one number: shape, status, expiry, category fit, official check."""
    lines = _certificate_lines(check, lang)
    if check.number.ok:
        lines.append(t(lang, "ccc.verify_official"))
    if check.is_sample:
        lines.append(t(lang, "ccc.sample_note"))
    return "\n".join(lines)


def listing_reply(check: ListingCheck, lang: str) -> str:
    """Product type, whether CCC applies, each number's check, the verdict and next steps."""
    lines: list[str] = []
    if check.product and check.product.requirement is not Requirement.UNKNOWN:
        lines.append(t(lang, "ccc.listing.product", product=check.product.name(lang)))
        lines.append(catalogue_reply(check.product, lang, with_source=False))
    else:
        lines.append(t(lang, "ccc.listing.no_product"))
    if check.certificates:
        lines.append(t(lang, "ccc.listing.numbers_found", count=len(check.certificates)))
        for number_check in check.certificates:
            lines.append("")
            lines.extend(_certificate_lines(number_check, lang))
        lines.append("")
    else:
        lines.append(t(lang, "ccc.listing.no_numbers"))
    lines.append(t(lang, f"ccc.listing.verdict.{check.verdict.value}"))
    lines.append(t(lang, "ccc.listing.steps_title"))
    lines.extend(
        f"{i}. {t(lang, f'ccc.listing.step.{step}')}" for i, step in enumerate(check.next_steps, 1)
    )
    if check.uses_sample:
        lines.append(t(lang, "ccc.sample_note"))
    return "\n".join(lines)


def knowledge_reply(answer: KnowledgeAnswer, lang: str) -> str:
    """The entry's text with its source, or an honest don't-know that offers a human."""
    if not answer.found:
        return t(lang, "knowledge.dont_know")
    lines = [
        answer.title.get(lang, ""),
        answer.body.get(lang, ""),
        t(lang, "knowledge.source", source=answer.cite.get(lang) or answer.source),
    ]
    if answer.related:
        titles = (
            "、".join(r.title.get(lang, "") for r in answer.related)
            if lang == "zh"
            else "; ".join(r.title.get(lang, "") for r in answer.related)
        )
        lines.append(t(lang, "knowledge.related", titles=titles))
    return "\n".join(line for line in lines if line)


def cases_reply(cases: list[TypicalCase], lang: str, *, asked: str | None = None) -> str:
    """The latest typical cases, newest first, or a line saying none are published yet."""
    if not cases:
        key = "knowledge.cases.none_in_category" if asked else "knowledge.cases.none"
        return t(lang, key)
    items = [
        t(
            lang,
            "knowledge.cases.item",
            date=format_date(case.published_on, lang),
            title=case.title.get(lang, ""),
            summary=case.summary.get(lang, ""),
        )
        for case in cases
    ]
    return "\n\n".join(items)


def related_case_reply(case: TypicalCase, lang: str) -> str:
    """One case that ends an answer about its category."""
    return t(
        lang,
        "knowledge.cases.related",
        date=format_date(case.published_on, lang),
        title=case.title.get(lang, ""),
        summary=case.summary.get(lang, ""),
    )


def human_button(lang: str) -> dict[str, str]:
    """The hand-over button offered with a don't-know (payload understood by the engine)."""
    return {"title": t(lang, "knowledge.button.human"), "payload": "/human"}
