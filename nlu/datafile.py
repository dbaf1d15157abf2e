"""Reading the project's YAML data files (rules, flows, knowledge, registries' tables).

libyaml's parser when PyYAML was built with it (about five times faster: the knowledge base
alone is half a second of every start in pure Python), the pure-Python one otherwise. Both
build plain Python values with PyYAML's safe constructor, so the result is the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> Any:
    """A UTF-8 YAML file as plain Python values (safe types only)."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 (a safe loader)
