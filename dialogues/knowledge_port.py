"""The one port through which dialogue flows read CCC checks, the catalogue and knowledge.

Results are plain dataclasses carrying codes, not reply text, so ``dialogues.answers`` can
word them in any language and the flows never see SQLAlchemy, httpx or YAML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Literal, Protocol


class CertStatus(StrEnum):
    """A certificate's registry status; the Chinese labels are the registry's own words."""

    VALID = "valid"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def zh(self) -> str:
        return _STATUS_ZH[self]

    @classmethod
    def parse(cls, value: str) -> CertStatus:
        """Accept 有效/暂停/撤销/注销/过期 or the English names, any case; ValueError else."""
        text = value.strip()
        for status, label in _STATUS_ZH.items():
            if text == label:
                return status
        return cls(text.lower())


_STATUS_ZH: dict[CertStatus, str] = {
    CertStatus.VALID: "有效",
    CertStatus.SUSPENDED: "暂停",
    CertStatus.REVOKED: "撤销",
    CertStatus.CANCELLED: "注销",
    CertStatus.EXPIRED: "过期",
}


class Requirement(StrEnum):
    """What the catalogue says about a product on a given date."""

    REQUIRED = "required"  # a CCC certificate is needed
    NOT_YET = "not_yet"  # in the catalogue, but not mandatory yet on that date
    SELF_DECLARATION = "self_declaration"  # CCC mark, but a declaration instead of a certificate
    CONFLICTING = "conflicting"  # sources disagree; say so
    NOT_IN_CCC = "not_in_ccc"  # outside CCC; something else applies
    UNKNOWN = "unknown"  # product not in our catalogue


class Match(StrEnum):
    """Whether a certificate's category fits the product the user named."""

    MATCH = "match"
    MISMATCH = "mismatch"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class NumberProblem:
    """One thing wrong or unusual about a typed number; errors stop the lookup."""

    code: Literal[
        "empty", "letters", "length", "year", "unknown_body", "unknown_category", "legacy"
    ]
    severity: Literal["error", "warning"]
    params: Mapping[str, str | int] = field(default_factory=dict)


@dataclass(frozen=True)
class NumberCheck:
    """A certificate number after normalisation and shape validation."""

    raw: str
    normalized: str
    problems: tuple[NumberProblem, ...] = ()
    year: int | None = None
    body: str | None = None
    category_code: str | None = None

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)

    @property
    def legacy(self) -> bool:
        return any(p.code == "legacy" for p in self.problems)


@dataclass(frozen=True)
class Certificate:
    """One registry record; ``is_sample`` marks the bundled, invented sample data."""

    cert_no: str
    holder: str
    manufacturer: str
    product: str
    model: str
    category_code: str | None
    status: CertStatus
    issued_on: date | None
    expires_on: date | None
    is_sample: bool = False


@dataclass(frozen=True)
class CatalogueAnswer:
    """Whether a product needs CCC on a date, and what applies instead if it does not."""

    query: str
    on: date
    requirement: Requirement
    product_id: str | None = None
    name_zh: str | None = None
    name_en: str | None = None
    cert_codes: tuple[str, ...] = ()
    effective_from: date | None = None
    applications_from: date | None = None
    instead: Mapping[str, str] = field(default_factory=dict)  # lang -> text
    note: Mapping[str, str] = field(default_factory=dict)  # lang -> text
    source: str = ""

    def name(self, lang: str) -> str:
        return (self.name_en if lang == "en" else self.name_zh) or self.query


@dataclass(frozen=True)
class CertificateCheck:
    """The full answer to "is this certificate real?" for one number."""

    number: NumberCheck
    on: date
    certificate: Certificate | None = None
    looked_up: bool = False  # False when the shape was invalid or the registry was down
    registry_unavailable: bool = False
    status: CertStatus | None = None  # the registry status, EXPIRED once expires_on passed
    category_match: Match = Match.UNKNOWN
    product: CatalogueAnswer | None = None
    category_name: Mapping[str, str] = field(default_factory=dict)  # lang -> certificate's category

    @property
    def found(self) -> bool:
        return self.certificate is not None

    @property
    def is_sample(self) -> bool:
        return self.certificate is not None and self.certificate.is_sample

    @property
    def acceptable(self) -> bool:
        """Valid status and no category mismatch: nothing for the consumer to act on."""
        return self.status is CertStatus.VALID and self.category_match is not Match.MISMATCH


class ListingVerdict(StrEnum):
    """The one-line conclusion of a listing check."""

    LOOKS_OK = "looks_ok"  # needs CCC, every number valid and of the product's category
    LAPSED = "lapsed"  # a number expired or was cancelled: goods made before may still be sold
    PROBLEM = "problem"  # a number is invalid, not found, not valid, or for another product
    MISSING_CERT = "missing_cert"  # needs CCC but the listing shows no certificate number
    SELF_DECLARATION = "self_declaration"
    NOT_REQUIRED = "not_required"  # outside CCC, or not mandatory yet
    UNCLEAR = "unclear"  # product unknown or sources conflict


@dataclass(frozen=True)
class ListingCheck:
    """What a pasted product listing says about CCC, and what the user can do next."""

    on: date
    product: CatalogueAnswer | None
    certificates: tuple[CertificateCheck, ...]
    verdict: ListingVerdict
    next_steps: tuple[str, ...]  # codes: verify_official, ask_seller, report, complain, ...

    @property
    def uses_sample(self) -> bool:
        return any(c.is_sample for c in self.certificates)


@dataclass(frozen=True)
class KnowledgeAnswer:
    """The best knowledge-base entry for a question, or an honest "don't know"."""

    query: str
    found: bool
    score: float = 0.0
    entry_id: str | None = None
    title: Mapping[str, str] = field(default_factory=dict)  # lang -> text
    body: Mapping[str, str] = field(default_factory=dict)  # lang -> text
    source: str = ""  # provenance, for maintainers
    cite: Mapping[str, str] = field(default_factory=dict)  # lang -> official basis, for users
    offer_human: bool = False
    related: tuple[RelatedEntry, ...] = ()  # other entries worth offering
    topic: str = ""  # identify, process, referral, cases…
    category: str | None = None  # product category (shoes, chargers…), for typical cases


@dataclass(frozen=True)
class RelatedEntry:
    """Another entry close to the question, offered as a follow-up (e.g. a button)."""

    entry_id: str
    title: Mapping[str, str]  # lang -> text


@dataclass(frozen=True)
class TypicalCase:
    """An anonymised case summary staff published (典型案例), in both languages."""

    id: int
    category: str
    title: Mapping[str, str]  # lang -> text
    summary: Mapping[str, str]  # lang -> text
    published_on: date


class CertificateChecks(Protocol):
    async def check_certificate(
        self, text: str, *, product: str | None = None, on: date | None = None
    ) -> CertificateCheck:
        """Normalise, validate and look up the number in ``text`` (a number or a sentence)."""
        ...


class ListingChecks(Protocol):
    async def check_listing(self, text: str, *, on: date | None = None) -> ListingCheck:
        """Find product type and certificate numbers in listing text and check them."""
        ...


class CatalogueReader(Protocol):
    async def ccc_required(self, product: str, *, on: date | None = None) -> CatalogueAnswer:
        """Whether ``product`` (any alias) needs CCC on ``on`` (default: today, Shanghai)."""
        ...


class KnowledgeReader(Protocol):
    async def ask(self, question: str) -> KnowledgeAnswer:
        """The best entry for ``question``; ``found`` is False below the confidence bar."""
        ...

    async def refer(self, question: str) -> KnowledgeAnswer | None:
        """The door for a question outside the regulator's remit (tobacco → 12313), if any."""
        ...


class TypicalCaseReader(Protocol):
    async def typical_cases(
        self, *, category: str | None = None, limit: int = 3
    ) -> list[TypicalCase]:
        """The latest published cases, newest first; of ``category`` when given."""
        ...


class KnowledgePort(
    CertificateChecks,
    ListingChecks,
    CatalogueReader,
    KnowledgeReader,
    TypicalCaseReader,
    Protocol,
):
    """Everything the flows read about certificates, the catalogue and consumer knowledge."""
