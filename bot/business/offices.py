"""The office directory: which regulator office handles which region, and routing a case.

Data, not code: ``bot/rules/offices.yml`` (a SAMPLE) or a file imported from CSV with
``weiquan offices import``. A complaint goes to the office of the seller's county, a report to
the office where the conduct happens (the rules and their sources are in the file). No
covering office means no office: staff route the case, nothing is guessed.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from integrations.tabular import detect_encoding
from nlu.datafile import read_yaml

SAMPLE = Path(__file__).parent.parent / "rules" / "offices.yml"
KEY = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")
PREFIX = re.compile(r"^(?:\d{2}|\d{4}|\d{6})$")
CSV_COLUMNS = ("key", "name", "regions", "phone", "handoff_url")


class DirectoryError(ValueError):
    """A directory file that cannot be used, with the line or entry at fault."""


@dataclass(frozen=True)
class Office:
    key: str
    name: str
    regions: tuple[str, ...]
    phone: str = ""
    handoff_url: str | None = None


@dataclass(frozen=True)
class Directory:
    offices: tuple[Office, ...]
    jurisdiction: dict[str, dict[str, str]] = field(default_factory=dict)
    sample: bool = False

    def get(self, key: str | None) -> Office | None:
        return next((o for o in self.offices if o.key == key), None)

    def route(self, region_code: str | None) -> Office | None:
        """The office whose region prefix is the longest match of the code; None if none."""
        if not region_code:
            return None
        best: tuple[int, Office] | None = None
        for office in self.offices:
            for prefix in office.regions:
                if region_code.startswith(prefix) and (best is None or len(prefix) > best[0]):
                    best = (len(prefix), office)
        return best[1] if best else None

    def covers(self, office_key: str, region_code: str | None) -> bool:
        """Whether a case in ``region_code`` is routed to ``office_key``."""
        found = self.route(region_code)
        return found is not None and found.key == office_key


def _office(entry: dict[str, Any], where: str) -> Office:
    key = str(entry.get("key") or "")
    if not KEY.match(key):
        raise DirectoryError(f"{where}: key {key!r} must be 1-32 of a-z 0-9 . _ -")
    name = str(entry.get("name") or "").strip()
    if not name or len(name) > 100:
        raise DirectoryError(f"{where}: name is empty or longer than 100 characters")
    raw = entry.get("regions") or []
    regions = tuple(str(r).strip() for r in (raw.split() if isinstance(raw, str) else raw))
    bad = [r for r in regions if not PREFIX.match(r)]
    if not regions or bad:
        raise DirectoryError(
            f"{where}: regions must be 2-, 4- or 6-digit administrative code prefixes"
            + (f" (not {', '.join(bad)})" if bad else "")
        )
    url = entry.get("handoff_url") or None
    if url is not None and not str(url).startswith(("https://", "http://")):
        raise DirectoryError(f"{where}: handoff_url {url!r} must be an http(s) URL")
    return Office(key, name, regions, str(entry.get("phone") or ""), url)


def parse(data: dict[str, Any]) -> Directory:
    offices = [_office(e, f"office {i + 1}") for i, e in enumerate(data.get("offices") or [])]
    keys = [o.key for o in offices]
    if len(set(keys)) != len(keys):
        raise DirectoryError("office keys must be unique")
    return Directory(tuple(offices), dict(data.get("jurisdiction") or {}), bool(data.get("sample")))


@cache
def load(path: Path = SAMPLE) -> Directory:
    return parse(read_yaml(path) or {})


def from_csv(raw: bytes, *, jurisdiction: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A CSV (UTF-8 or GBK; regions space-separated) as the directory's YAML data, and the
    rows not taken, each with its line number."""
    text = raw.decode(detect_encoding(raw[: 64 * 1024]), errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [c.strip().lstrip("\ufeff").lower() for c in next(reader, [])]
    missing = [c for c in ("key", "name", "regions") if c not in header]
    if missing:
        raise DirectoryError(
            "header is missing column(s) "
            + ", ".join(missing)
            + "; expected "
            + ",".join(CSV_COLUMNS)
        )
    offices: list[dict[str, Any]] = []
    errors: list[str] = []
    seen: set[str] = set()
    for cells in reader:
        if not any(c.strip() for c in cells):
            continue
        entry = {h: (cells[i].strip() if i < len(cells) else "") for i, h in enumerate(header)}
        try:
            office = _office(entry, f"line {reader.line_num}")
        except DirectoryError as exc:
            errors.append(str(exc))
            continue
        if office.key in seen:
            errors.append(f"line {reader.line_num}: key {office.key!r} already used")
            continue
        seen.add(office.key)
        offices.append(
            {
                "key": office.key,
                "name": office.name,
                "regions": list(office.regions),
                "phone": office.phone,
                "handoff_url": office.handoff_url,
            }
        )
    return {"sample": False, "jurisdiction": jurisdiction, "offices": offices}, errors
