"""The respondent of a case as a business: who it is, where it is, which office handles it.

Built when a case is filed from what the consumer gave: the licence step (a USCC and/or the
registered name and address, typed, or read from the licence photo once the photo check can
read text), the shop name and platform, and the shop or target address. A complaint goes
where the seller is registered (registered address, else the USCC's region code, else the
shop's address); a report where the conduct happens (the shop's or target's address first).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.business.offices import Directory, Office, load
from bot.business.region import Region, Regions, Source, shared
from nlu import uscc
from nlu.uscc import find_name

# Slots the flows use for the seller: the licence step, the shop, its address.
LICENCE = "licence"
SHOP = {"complaint": "merchant", "report": "target_name"}
PLACE = {"complaint": "merchant_address", "report": "target_location"}


_ADDRESS_LABEL = re.compile(r"^(?:住所|地址|经营场所|注册地址)\s*[:：]?\s*")


class LicenceReader(Protocol):
    """Reads a business licence photo (亮照) into text; the photo check provides one when it
    can read text. Until then the consumer types what the licence says."""

    def licence_text(self, evidence_sha256: str) -> str | None: ...


@dataclass(frozen=True)
class Respondent:
    """What a case knows of its seller as a business; empty parts stay None."""

    shop: str | None = None
    platform: str | None = None
    name: str | None = None  # registered name
    uscc: str | None = None
    uscc_problem: str | None = None  # a typed code that does not add up (length, checksum)
    address: str | None = None  # registered address as given
    region: Region | None = None
    # Where the business is registered (registered address, else the code's region), which
    # may differ from ``region`` for a report (where the conduct happens): a clue notice.
    registered_region: Region | None = None
    identified_by: tuple[str, ...] = ()
    office: Office | None = None
    credit: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return {
            "shop": self.shop,
            "platform": self.platform,
            "name": self.name,
            "uscc": self.uscc,
            "uscc_problem": self.uscc_problem,
            "address": self.address,
            "region": self.region.as_dict() if self.region else None,
            "registered_region": (
                self.registered_region.as_dict() if self.registered_region else None
            ),
            "identified_by": list(self.identified_by),
            "office": self.office.key if self.office else None,
            "credit": list(self.credit),
        }


CreditLookup = Callable[[str | None, str | None], list[dict[str, Any]]]


class Sellers:
    """Identifies and routes respondents; the address parser and directory are shared data."""

    def __init__(
        self,
        regions: Regions | None = None,
        directory: Directory | None = None,
        licence_reader: LicenceReader | None = None,
    ) -> None:
        self.regions = regions or shared()
        self.directory = directory or load()
        self.licence_reader = licence_reader

    def identify(
        self, kind: str, fields: dict[str, Any], *, credit: CreditLookup | None = None
    ) -> Respondent:
        # What the licence says: its own step, or given with the shop's name (the question
        # asks for both); typed for now, read from the photo once the photo check reads text.
        shop_text = unicodedata.normalize("NFKC", str(fields.get(SHOP.get(kind, "merchant")) or ""))
        own = unicodedata.normalize("NFKC", str(fields.get(LICENCE) or "")).strip().upper()
        licence = " ".join(p for p in (own, shop_text.strip().upper()) if p)
        place = str(fields.get(PLACE.get(kind, "merchant_address")) or "").strip() or None
        by: list[str] = []
        code = uscc.find(licence) if licence else None
        number = code.normalized if code is not None and code.ok else None
        if number:
            by.append("uscc")
        name = find_name(licence, shops=False) if licence else None
        if name:
            by.append("registered_name")
        registered = self._registered_address(own or shop_text.upper(), code, name)
        if code is not None:  # the shop's name is what is left once the code is taken out
            shop_text = re.sub(re.escape(code.raw), " ", shop_text, flags=re.IGNORECASE)
        shop = shop_text.strip(" ,，;；:：") or None
        if shop:
            by.append("shop_name")
        region = self._region(kind, registered=registered, code=number, place=place)
        home = self._region("complaint", registered=registered, code=number, place=None)
        office = self.directory.route(region.code) if region else None
        records = tuple(credit(number, name) if credit and (number or name) else ())
        return Respondent(
            shop=shop,
            platform=str(fields.get("platform") or "") or None,
            name=name,
            uscc=number,
            uscc_problem=code.problem if code is not None and not code.ok else None,
            address=registered,
            region=region,
            registered_region=home,
            identified_by=tuple(by),
            office=office,
            credit=records,
        )

    def _registered_address(
        self, licence: str, code: uscc.UsccCheck | None, name: str | None
    ) -> str | None:
        rest = licence
        for part in (code.raw if code else None, name):
            if part:
                rest = rest.replace(part, " ")
        rest = _ADDRESS_LABEL.sub("", rest.strip(" ，,。;；:："))
        return rest if self.regions.from_address(rest, source="registered_address") else None

    def _region(
        self, kind: str, *, registered: str | None, code: str | None, place: str | None
    ) -> Region | None:
        tries: list[tuple[Source, str | None]] = [
            ("registered_address", registered),
            ("uscc", code[2:8] if code else None),
            ("merchant_address", place),
        ]
        if kind == "report":  # where the conduct happens comes first
            tries.insert(0, tries.pop())
        for source, value in tries:
            if not value:
                continue
            found = (
                self.regions.from_code(value, source=source)
                if source == "uscc"
                else self.regions.from_address(value, source=source)
            )
            if found is not None:
                return found
        return None
