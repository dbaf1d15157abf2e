"""What a photo reading and a photo check return: plain dataclasses carrying codes, no wording.

Only the standard library and the CCC port's dataclasses are imported here, so the chat side
can hold, store and word these without loading OCR (``dialogues.answers`` words the rest).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol

from dialogues.knowledge_port import CertificateCheck, ListingCheck

# Field names a reading may carry (ReadField.name).
CCC_NUMBER = "ccc_number"  # 16-digit CCC certificate number (12 for old ones)
MODEL = "model"  # 型号 / 规格型号 / Model
HOLDER = "holder"  # 委托人 / 持证人 / 申请人
MANUFACTURER = "manufacturer"  # 制造商 / 生产企业 / 生产者 / Manufacturer
BRAND = "brand"  # 品牌 / 商标 / Brand
SC_LICENCE = "sc_licence"  # food production licence: SC + 14 digits
DRUG_APPROVAL = "drug_approval"  # 国药准字 H/Z/S/J + 8 digits
COSMETICS_FILING = "cosmetics_filing"  # 国妆特字 / 国妆网备进字 / 粤G妆网备字 …
# A business licence (营业执照): its credit code (check digit verified), name and address.
USCC = "uscc"
BUSINESS_NAME = "business_name"
REGISTERED_ADDRESS = "registered_address"
FIELD_NAMES = (
    CCC_NUMBER,
    MODEL,
    HOLDER,
    MANUFACTURER,
    BRAND,
    SC_LICENCE,
    DRUG_APPROVAL,
    COSMETICS_FILING,
    USCC,
    BUSINESS_NAME,
    REGISTERED_ADDRESS,
)
QR_LINE = -1  # ReadField.source_line of a value decoded from a QR code, not from text


class Kind(StrEnum):
    """What the photo most likely shows; a guess from the text read, never a certainty."""

    NAMEPLATE = "nameplate"  # rating plate / label on the product
    CCC_LABEL = "ccc_label"  # a CCC sticker or certificate-number label
    PACKAGING = "packaging"  # a box side, food/drug/cosmetics packaging
    LICENCE = "licence"  # a business licence (营业执照), as shops display it
    LISTING = "listing"  # a screenshot of an online listing
    NOTHING = "nothing"  # nothing useful read: the chat gives tips for a better photo


class Mark(StrEnum):
    """Whether the CCC mark was seen. ABSENT means "not found in what was read", not "missing"."""

    PRESENT = "present"
    ABSENT = "absent"
    UNKNOWN = "unknown"  # too little was read to say


@dataclass(frozen=True)
class OcrLine:
    """One recognised line: its text, the recogniser's confidence (0-1) and its box.

    ``box`` is four (x, y) corners in pixels of the image as read (after EXIF rotation and
    any downscaling, see ``Reading.width``/``height``), clockwise from top-left.
    """

    text: str
    confidence: float
    box: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class ReadField:
    """A value found in the text: ``source_line`` indexes ``Reading.lines`` (QR_LINE for QR)."""

    name: str
    value: str
    confidence: float
    source_line: int
    confirmed: bool = False  # the user confirmed (or typed) this value


@dataclass(frozen=True)
class QrCode:
    """A decoded QR code or barcode. URLs are kept as text and never fetched.

    ``kind``: "ccc_ecert" (a CCC e-certificate link or payload; ``cert_no`` set), "url", "text"
    (anything else, e.g. an EAN barcode's digits).
    """

    format: str
    text: str
    kind: str
    cert_no: str | None = None


@dataclass(frozen=True)
class Reading:
    """Everything read from one photo."""

    lines: tuple[OcrLine, ...]
    fields: tuple[ReadField, ...] = ()
    qr: tuple[QrCode, ...] = ()
    kind: Kind = Kind.NOTHING
    ccc_mark: Mark = Mark.UNKNOWN
    width: int = 0
    height: int = 0
    seconds: float = 0.0  # time spent recognising, in the worker

    @property
    def text(self) -> str:
        """All lines, one per line, in reading order."""
        return "\n".join(line.text for line in self.lines)

    def all(self, name: str) -> tuple[ReadField, ...]:
        """Every value found for ``name``, most confident first."""
        found = [f for f in self.fields if f.name == name]
        return tuple(sorted(found, key=lambda f: (not f.confirmed, -f.confidence)))

    def best(self, name: str) -> ReadField | None:
        found = self.all(name)
        return found[0] if found else None

    def confirmed(self, name: str, value: str) -> Reading:
        """This reading with ``value`` for ``name`` confirmed (or corrected) by the user."""
        old = self.best(name)
        line = old.source_line if old else QR_LINE
        kept = tuple(f for f in self.fields if f.name != name)
        new = ReadField(name, value, 1.0, line, confirmed=True)
        return replace(self, fields=(new, *kept))

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (for the evidence row); ``from_json`` reads it back."""
        return {
            "lines": [[ln.text, ln.confidence, [list(p) for p in ln.box]] for ln in self.lines],
            "fields": [
                [f.name, f.value, f.confidence, f.source_line, f.confirmed] for f in self.fields
            ],
            "qr": [[q.format, q.text, q.kind, q.cert_no] for q in self.qr],
            "kind": self.kind.value,
            "ccc_mark": self.ccc_mark.value,
            "width": self.width,
            "height": self.height,
            "seconds": self.seconds,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reading:
        return cls(
            lines=tuple(
                OcrLine(t, float(c), tuple((float(x), float(y)) for x, y in b))
                for t, c, b in data["lines"]
            ),
            fields=tuple(
                ReadField(n, v, float(c), int(s), bool(k)) for n, v, c, s, k in data["fields"]
            ),
            qr=tuple(QrCode(f, t, k, n) for f, t, k, n in data["qr"]),
            kind=Kind(data["kind"]),
            ccc_mark=Mark(data["ccc_mark"]),
            width=int(data["width"]),
            height=int(data["height"]),
            seconds=float(data["seconds"]),
        )


class PhotoReader(Protocol):
    """Reads one photo. Raises Busy, ReadTimeout or Unreadable (``bot.photocheck.errors``)."""

    async def read(self, image: bytes) -> Reading: ...


class Outcome(StrEnum):
    """The one-line conclusion of a photo check."""

    LOOKS_OK = "looks_ok"  # a valid certificate whose holder/model agree with the label
    MISUSE = "misuse"  # 冒用: valid certificate, but the label's model/holder is someone else's
    PROBLEM = "problem"  # a number that is malformed, not found, not valid, or another category
    NEEDS_CONFIRMATION = "needs_confirmation"  # unsure readings: confirm before any lookup
    UNCLEAR = "unclear"  # registry unavailable, or not enough printed to compare
    NO_CERTIFICATE = "no_certificate"  # text read, but no certificate number
    OTHER_IDS = "other_ids"  # SC / 国药准字 / cosmetics numbers only: shape-checked
    LISTING = "listing"  # a listing screenshot: see PhotoVerdict.listing
    NOTHING = "nothing"  # nothing useful read: tips for a better photo


class Agreement(StrEnum):
    MATCH = "match"
    MISMATCH = "mismatch"
    NOT_PRINTED = "not_printed"  # the label did not show this field (or it was not read)
    NOT_REGISTERED = "not_registered"  # the registry row has no value to compare with


@dataclass(frozen=True)
class Comparison:
    """A printed value set against the certificate's: the check that catches 冒用."""

    field: str  # MODEL, HOLDER or MANUFACTURER
    printed: str
    registered: str
    agreement: Agreement


@dataclass(frozen=True)
class IdentifierCheck:
    """An SC, 国药准字 or cosmetics number, shape-checked, with where to verify it.

    ``verify_at`` and ``source`` come from ``bot/photocheck/data/identifiers.yml``.
    """

    name: str  # SC_LICENCE, DRUG_APPROVAL or COSMETICS_FILING
    value: str
    shape_ok: bool
    problem: str = ""  # code, e.g. "length", "letter"
    detail: dict[str, str] = field(default_factory=dict)  # e.g. {"type": "domestic special"}
    verify_at: dict[str, str] = field(default_factory=dict)  # lang -> where to check
    source: str = ""


@dataclass(frozen=True)
class PhotoVerdict:
    """The check of one reading against the registry and the catalogue."""

    reading: Reading
    outcome: Outcome
    certificates: tuple[CertificateCheck, ...] = ()  # one per certificate number looked up
    comparisons: tuple[Comparison, ...] = ()  # for the first certificate found
    mark: Mark = Mark.UNKNOWN
    mark_expected: bool = False  # the product read is a CCC catalogue product (certificate)
    identifiers: tuple[IdentifierCheck, ...] = ()
    to_confirm: tuple[ReadField, ...] = ()  # ask the user before any lookup
    urls: tuple[str, ...] = ()  # links from QR codes: shown, never fetched
    listing: ListingCheck | None = None  # for listing screenshots, as `weiquan ccc listing`
    next_steps: tuple[str, ...] = ()  # codes, as ListingCheck.next_steps

    @property
    def needs_confirmation(self) -> bool:
        return self.outcome is Outcome.NEEDS_CONFIRMATION

    def mismatches(self) -> Iterator[Comparison]:
        return (c for c in self.comparisons if c.agreement is Agreement.MISMATCH)
