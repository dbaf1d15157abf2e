"""Every bilingual label in the data files is one whole text per language.

An unquoted comma inside a YAML flow mapping splits a label: ``{zh: 充电宝, en: power banks,
chargers and cables}`` reads as ``en: power banks`` plus a key ``chargers and cables`` with no
value, and English users saw "power banks" for the whole category.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DATA = sorted(
    p
    for package in ("bot", "dialogues", "integrations", "nlu")
    for p in (ROOT / package).rglob("*.yml")
    if "__pycache__" not in p.parts
)


def _labels(node: Any, path: str) -> list[tuple[str, dict[Any, Any]]]:
    found: list[tuple[str, dict[Any, Any]]] = []
    if isinstance(node, dict):
        if "zh" in node and "en" in node:
            found.append((path, node))
        for key, value in node.items():
            found += _labels(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _labels(value, f"{path}[{i}]")
    return found


def test_the_data_files_are_found() -> None:
    names = {p.name for p in DATA}
    assert {"cases.yml", "catalogue.yml", "categories.yml"} <= names


@pytest.mark.parametrize("path", DATA, ids=lambda p: str(p.relative_to(ROOT)))
def test_bilingual_labels_are_whole(path: Path) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    broken = [
        f"{where}: {label!r}"
        for where, label in _labels(data, path.name)
        # a split label leaves a key with no value beside zh/en
        if any(value is None for value in label.values())
    ]
    assert not broken, "\n".join(broken)
