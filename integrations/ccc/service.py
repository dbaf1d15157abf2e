"""CCC checks the dialogue port exposes: certificate check, listing check, catalogue answer.

Composes the number rules, the catalogue and any ``CertificateRegistry`` adapter; knows
nothing about reply wording (``dialogues.answers`` does that).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from dialogues.knowledge_port import (
    CatalogueAnswer,
    CertificateCheck,
    CertStatus,
    ListingCheck,
    Match,
)
from integrations.ccc import listing
from integrations.ccc.catalogue import Catalogue, default_catalogue
from integrations.ccc.numbers import Codes, extract_number, load_codes, validate
from integrations.ccc.registry import CertificateRegistry, RegistryUnavailable

SHANGHAI = ZoneInfo("Asia/Shanghai")


def today_shanghai() -> date:
    """Certificates and catalogue dates are Chinese calendar dates."""
    return datetime.now(SHANGHAI).date()


class CccService:
    """Implements the CCC half of ``dialogues.knowledge_port.KnowledgePort``."""

    def __init__(
        self,
        registry: CertificateRegistry,
        *,
        catalogue: Catalogue | None = None,
        codes: Codes | None = None,
        today: Callable[[], date] = today_shanghai,
    ) -> None:
        self.registry = registry
        self.catalogue = catalogue or default_catalogue()
        self.codes = codes or load_codes()
        self._today = today

    async def ccc_required(self, product: str, *, on: date | None = None) -> CatalogueAnswer:
        return self.catalogue.answer(product, on=on or self._today())

    async def check_certificate(
        self, text: str, *, product: str | None = None, on: date | None = None
    ) -> CertificateCheck:
        day = on or self._today()
        answer = self.catalogue.answer(product, on=day) if product else None
        return await self._check(extract_number(text), answer, day)

    async def check_listing(self, text: str, *, on: date | None = None) -> ListingCheck:
        day = on or self._today()
        products = self.catalogue.find_in_text(text)
        answer = (
            self.catalogue.answer(products[0].zh, on=day, product=products[0]) if products else None
        )
        checks = tuple(
            [await self._check(n, answer, day) for n in listing.find_listing_numbers(text)]
        )
        result = listing.verdict(answer, checks)
        return ListingCheck(
            on=day,
            product=answer,
            certificates=checks,
            verdict=result,
            next_steps=listing.next_steps(result),
        )

    async def _check(
        self, raw: str, product: CatalogueAnswer | None, day: date
    ) -> CertificateCheck:
        number = validate(raw, current_year=day.year, codes=self.codes)
        if not number.ok:
            return CertificateCheck(number=number, on=day, product=product)
        try:
            certificate = await self.registry.get(number.normalized)
        except RegistryUnavailable:
            return CertificateCheck(
                number=number,
                on=day,
                registry_unavailable=True,
                category_match=_match(number.category_code, product),
                product=product,
                category_name=self._category_name(number.category_code),
            )
        if certificate is None:
            return CertificateCheck(
                number=number,
                on=day,
                looked_up=True,
                category_match=_match(number.category_code, product),
                product=product,
                category_name=self._category_name(number.category_code),
            )
        status = certificate.status
        if status is CertStatus.VALID and certificate.expires_on and certificate.expires_on < day:
            status = CertStatus.EXPIRED
        return CertificateCheck(
            number=number,
            on=day,
            certificate=certificate,
            looked_up=True,
            status=status,
            category_match=_match(certificate.category_code or number.category_code, product),
            product=product,
            category_name=self._category_name(certificate.category_code or number.category_code),
        )

    def _category_name(self, code: str | None) -> dict[str, str]:
        entry = self.codes.categories.get(code or "")
        return {"zh": entry["zh"], "en": entry["en"]} if entry else {}


def _match(code: str | None, product: CatalogueAnswer | None) -> Match:
    if code is None or product is None or not product.cert_codes:
        return Match.UNKNOWN
    return Match.MATCH if code in product.cert_codes else Match.MISMATCH
