"""Articles: knowledge entries written as cited statements (categories, referrals, cases).

Every statement names its source in ``data/sources.yml``; the body users read is put together
here, with general advice and unconfirmed statements marked as such, and the citation line
lists only the confirmed official bases.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nlu.datafile import read_yaml

LANGS = ("zh", "en")
SECTIONS = ("intro", "check", "evidence", "complain")
GENERAL = "general"  # general advice, not an official rule
SERVICE = "service"  # what this bot itself does


def load_sources(data_dir: Path) -> dict[str, Any]:
    """The sources table and the section labels."""
    path = data_dir / "sources.yml"
    if not path.exists():
        return {"sources": {}, "labels": {}}
    return read_yaml(path) or {}


def compose(
    raw: Mapping[str, Any], common: Mapping[str, Any], table: Mapping[str, Any], where: str
) -> dict[str, Any]:
    """An ``entries``-shaped dict (body, source, cite per language) from a cited article."""
    sources: Mapping[str, Any] = table.get("sources", {})
    labels: Mapping[str, Any] = table.get("labels", {})
    body: dict[str, list[str]] = {lang: [] for lang in LANGS}
    provenance: list[str] = []
    cites: dict[str, list[str]] = {lang: [] for lang in LANGS}
    has_general = False
    own: list[str] = []  # the article's own statements: what retrieval indexes
    for section in SECTIONS:
        statements = list(raw.get(section) or [])
        own += [str(s.get(lang, "")) for s in statements for lang in LANGS]
        if section in ("evidence", "complain") and raw.get("common", True):
            statements += list(common.get(section) or [])
        if not statements:
            continue
        for lang in LANGS:
            if section != "intro":
                body[lang].append(labels[section][lang])
        for statement in statements:
            src = statement.get("src")
            if src not in (GENERAL, SERVICE) and src not in sources:
                raise ValueError(f"{where}: unknown source {src!r}")
            for lang in LANGS:
                if not statement.get(lang):
                    raise ValueError(f"{where}: a statement has no {lang} text")
            marker = ""
            if src == GENERAL:
                has_general = True
                marker = "general"
            elif src != SERVICE:
                info = sources[src]
                if info["source"] not in provenance:
                    provenance.append(info["source"])
                if info.get("unconfirmed"):
                    marker = "unconfirmed"
                else:
                    for lang in LANGS:
                        if info[f"cite_{lang}"] not in cites[lang]:
                            cites[lang].append(info[f"cite_{lang}"])
            for lang in LANGS:
                text = str(statement[lang]).strip()
                suffix = labels[marker][lang] if marker else ""
                bullet = "" if section == "intro" else "· "
                body[lang].append(f"{bullet}{text}{suffix}")
    if not provenance:
        raise ValueError(f"{where}: no statement names an official source")
    separator = {"zh": "；", "en": "; "}
    cite = {lang: separator[lang].join(cites[lang]) for lang in LANGS}
    if has_general:
        for lang in LANGS:
            note = labels["general_note"][lang]
            cite[lang] = (
                f"{cite[lang]}{'。' if lang == 'zh' else '. '}{note}" if cite[lang] else note
            )
    return {
        **{k: v for k, v in raw.items() if k not in SECTIONS},
        "body_zh": "\n".join(body["zh"]),
        "body_en": "\n".join(body["en"]),
        "source": " | ".join(provenance),
        "cite_zh": cite["zh"],
        "cite_en": cite["en"],
        "index_text": "\n".join(own),
    }


def load_articles(path: Path, table: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``articles`` of one data file, composed into entry dicts."""
    data = read_yaml(path) or {}
    common = data.get("common") or {}
    return [
        compose(raw, common, table, f"{path.name}: article {raw.get('id')!r}")
        for raw in data.get("articles", [])
    ]
