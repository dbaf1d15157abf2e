"""The dialogue's ``PhotoChecks`` port: a photo's reading checked against the registry and the
catalogue through the knowledge port (certificate, listing), with the printed model and
maker compared to the registered ones. Reads only."""

from __future__ import annotations

import re
from datetime import date

from dialogues import listing
from dialogues.knowledge_port import KnowledgePort
from dialogues.reading import Note, PhotoCheck, PhotoReading
from integrations.ccc.listing import is_problem

SC = re.compile(r"SC\d{14}")
DRUG = re.compile(r"国药准字[HZSJ]\d{8}")
COSMETICS = re.compile(
    r"(国妆特字|国妆特进字|国妆备进字|国妆网备进字|[\u4e00-\u9fff]G妆网备字)\d{6,12}"
)
SHAPES = {
    "sc_licence": ("sc", SC),
    "drug_approval": ("drug", DRUG),
    "cosmetics_filing": ("cosmetics", COSMETICS),
}
# An e-certificate link carries the 16-digit number; any other link is shown, never fetched.
QR_NUMBER = re.compile(r"(?<!\d)(20\d{14})(?!\d)")
CERT_HOSTS = ("cnca.cn", "cqc.com.cn", "ccc")


class RegistryPhotoChecks:
    def __init__(self, knowledge: KnowledgePort) -> None:
        self.knowledge = knowledge

    async def check_photo(self, reading: PhotoReading, *, on: date) -> PhotoCheck:
        notes: list[Note] = []
        for name, (code, shape) in SHAPES.items():
            shown = reading.field(name)
            if shown is not None:
                plain = shown.value.replace(" ", "")
                ok = shape.fullmatch(plain) is not None
                notes.append(Note(f"{code}_{'ok' if ok else 'bad'}", {"number": plain}))
        number = reading.field("ccc_number")
        value = number.value if number else None
        for payload in reading.qr:
            in_link = QR_NUMBER.search(payload)
            if in_link and any(h in payload.lower() for h in CERT_HOSTS):
                value = value or in_link.group(1)
                notes.append(Note("qr_certificate", {"number": in_link.group(1)}))
            elif payload.lower().startswith(("http://", "https://")):
                notes.append(Note("qr_other"))
        if reading.kind == "listing" or (
            value is None and listing.looks_like_listing(reading.text)
        ):
            check = await self.knowledge.check_listing(reading.text, on=on)
            compared = listing.listing_notes(check, reading.text)
            problem = listing.acts_on(check.verdict, compared)
            return PhotoCheck(listing=check, notes=(*compared, *notes), problem=problem)
        if value is None:
            return PhotoCheck(notes=tuple(notes))
        cert_check = await self.knowledge.check_certificate(value, on=on)
        problem = is_problem(cert_check)
        cert = cert_check.certificate
        if cert is not None:
            model = reading.field("model")
            if model is not None and cert.model:
                same = listing.model_in(cert.model, model.value)
                code = "model_match" if same else "model_mismatch"
                notes.append(Note(code, {"printed": model.value, "registered": cert.model}))
                problem = problem or not same
            maker = reading.field("holder") or reading.field("manufacturer")
            if maker is not None:
                printed = listing.normalise(maker.value)
                known = {listing.normalise(cert.holder), listing.normalise(cert.manufacturer)}
                if printed in known:
                    notes.append(Note("holder_match"))
                else:
                    notes.append(
                        Note("holder_mismatch", {"printed": maker.value, "registered": cert.holder})
                    )
                    problem = True
        if reading.mark is False:
            notes.append(Note("no_mark"))
        return PhotoCheck(certificate=cert_check, notes=tuple(notes), problem=problem)
