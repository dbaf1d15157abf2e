"""The dialogue's ``PhotoChecks`` port over the reading core's ``check`` (``bot/photocheck``):
one comparison of the printed number, model and companies with the registry, worded by the
dialogue as notes. Reads only.

The dialogue has already read back a certificate number it was unsure of; other fields read
below its confidence are shown to the user but not compared (a misread model must not say
冒用). Text that reads as a listing gets the listing check whatever the photo was taken for.
"""

from __future__ import annotations

from datetime import date

from bot.knowledge.service import KnowledgeService
from bot.photocheck.fields import classify_qr
from bot.photocheck.types import (
    CCC_NUMBER,
    QR_LINE,
    Agreement,
    Kind,
    Mark,
    OcrLine,
    Outcome,
    PhotoVerdict,
    ReadField,
    Reading,
)
from bot.photocheck.verdict import check
from dialogues import listing
from dialogues.reading import CONFIDENT, Note, PhotoCheck, PhotoReading

KINDS = {
    "label": Kind.CCC_LABEL,
    "listing": Kind.LISTING,
    "qr": Kind.CCC_LABEL,
    "licence": Kind.LICENCE,
}
MARKS = {True: Mark.PRESENT, False: Mark.ABSENT, None: Mark.UNKNOWN}
IDENTIFIER_NOTES = {"sc_licence": "sc", "drug_approval": "drug", "cosmetics_filing": "cosmetics"}


def to_core(reading: PhotoReading) -> Reading:
    """The dialogue's reading as the core checks it: unsure fields other than the number
    (which the dialogue confirms first) are left out of the comparison."""
    fields = tuple(
        ReadField(f.name, f.value, f.confidence, QR_LINE, confirmed=f.confidence >= 1.0)
        for f in reading.fields
        if f.name == CCC_NUMBER or f.confidence >= CONFIDENT
    )
    lines = tuple(OcrLine(line, 1.0) for line in reading.text.splitlines() if line.strip())
    qr = tuple(classify_qr("QRCode", payload) for payload in reading.qr)
    kind = KINDS.get(reading.kind, Kind.PACKAGING if fields or lines else Kind.NOTHING)
    if listing.looks_like_listing(reading.text):
        kind = Kind.LISTING  # a listing screenshot, even where the reader guessed a label
    return Reading(lines, fields, qr, kind, MARKS.get(reading.mark, Mark.UNKNOWN))


class RegistryPhotoChecks:
    def __init__(self, knowledge: KnowledgeService) -> None:
        self.ccc = knowledge.ccc

    async def check_photo(self, reading: PhotoReading, *, on: date) -> PhotoCheck:
        verdict = await check(
            to_core(reading),
            self.ccc.registry,
            service=self.ccc,
            today=lambda: on,
            confirm_below=CONFIDENT,
        )
        return to_check(verdict)


def to_check(verdict: PhotoVerdict) -> PhotoCheck:
    """The core's verdict as the notes the dialogue words."""
    notes = _qr_notes(verdict) + _identifier_notes(verdict)
    if verdict.listing is not None:
        text = verdict.reading.text
        compared = listing.listing_notes(verdict.listing, text)
        problem = listing.acts_on(verdict.listing.verdict, compared)
        return PhotoCheck(listing=verdict.listing, notes=(*compared, *notes), problem=problem)
    found = next((c for c in verdict.certificates if c.certificate is not None), None)
    first = found or (verdict.certificates[0] if verdict.certificates else None)
    notes += _comparison_notes(verdict)
    if verdict.mark is Mark.ABSENT and (first is not None or verdict.mark_expected):
        notes.append(Note("no_mark"))
    problem = verdict.outcome in (Outcome.PROBLEM, Outcome.MISUSE)
    return PhotoCheck(certificate=first, notes=tuple(notes), problem=problem)


def _qr_notes(verdict: PhotoVerdict) -> list[Note]:
    notes: list[Note] = []
    for code in verdict.reading.qr:
        if code.kind == "ccc_ecert" and code.cert_no:
            notes.append(Note("qr_certificate", {"number": code.cert_no}))
        elif code.kind == "url":
            notes.append(Note("qr_other"))
    return notes


def _identifier_notes(verdict: PhotoVerdict) -> list[Note]:
    return [
        Note(
            f"{IDENTIFIER_NOTES[i.name]}_{'ok' if i.shape_ok else 'bad'}",
            {"number": i.value},
        )
        for i in verdict.identifiers
    ]


def _comparison_notes(verdict: PhotoVerdict) -> list[Note]:
    """The model's comparison, and one for the companies (a label names either of them)."""
    notes: list[Note] = []
    companies = []
    for c in verdict.comparisons:
        if c.agreement not in (Agreement.MATCH, Agreement.MISMATCH):
            continue
        if c.field == "model":
            code = "model_match" if c.agreement is Agreement.MATCH else "model_mismatch"
            notes.append(Note(code, {"printed": c.printed, "registered": c.registered}))
        else:
            companies.append(c)
    wrong = next((c for c in companies if c.agreement is Agreement.MISMATCH), None)
    if wrong is not None:
        notes.append(
            Note("holder_mismatch", {"printed": wrong.printed, "registered": wrong.registered})
        )
    elif companies:
        notes.append(Note("holder_match"))
    return notes
