"""The custom menu: read from YAML, checked against WeChat's limits, installed via the API.

Checking locally gives the operator a clear message instead of WeChat's bare error code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nlu.datafile import read_yaml

MENU_FILE = Path(__file__).with_name("menu.yml")
TOP_LEVEL, SUB_LEVEL = 3, 5
TOP_NAME_BYTES, SUB_NAME_BYTES, KEY_BYTES = 16, 60, 128
TYPES_WITH_KEY = {
    "click",
    "scancode_push",
    "scancode_waitmsg",
    "pic_sysphoto",
    "pic_photo_or_album",
    "pic_weixin",
    "location_select",
}


class MenuError(ValueError):
    """The menu file breaks one of WeChat's rules."""


def _check_button(button: Any, where: str, name_limit: int) -> dict[str, Any]:
    if not isinstance(button, dict):
        raise MenuError(f"{where}: a button must be a mapping")
    name = str(button.get("name", ""))
    if not name or len(name.encode("utf-8")) > name_limit:
        raise MenuError(f"{where}: name must be 1–{name_limit} bytes (got {name!r})")
    kind = button.get("type")
    if kind in TYPES_WITH_KEY:
        key = str(button.get("key", ""))
        if not key or len(key.encode("utf-8")) > KEY_BYTES:
            raise MenuError(f"{where}: a {kind} button needs a key of at most {KEY_BYTES} bytes")
    elif kind == "view":
        if not str(button.get("url", "")).startswith(("http://", "https://")):
            raise MenuError(f"{where}: a view button needs an http(s) url")
    elif kind is not None:
        raise MenuError(f"{where}: unsupported button type {kind!r}")
    return {k: v for k, v in button.items() if k != "sub_button"} | {"name": name}


def load_menu(path: Path = MENU_FILE) -> dict[str, Any]:
    """The menu as WeChat's ``menu/create`` body; raises MenuError with what to fix."""
    data = read_yaml(path) or {}
    buttons = data.get("button")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= TOP_LEVEL:
        raise MenuError(f"`button` must list 1–{TOP_LEVEL} top-level buttons")
    menu: list[dict[str, Any]] = []
    for i, button in enumerate(buttons, start=1):
        checked = _check_button(button, f"button {i}", TOP_NAME_BYTES)
        subs = button.get("sub_button")
        if subs is None:
            if "type" not in checked:
                raise MenuError(f"button {i}: needs a type or sub_button")
            menu.append(checked)
            continue
        if not isinstance(subs, list) or not 1 <= len(subs) <= SUB_LEVEL:
            raise MenuError(f"button {i}: sub_button must list 1–{SUB_LEVEL} buttons")
        sub = [
            _check_button(s, f"button {i}.{j}", SUB_NAME_BYTES) for j, s in enumerate(subs, start=1)
        ]
        if any("type" not in s for s in sub):
            raise MenuError(f"button {i}: every sub-button needs a type")
        menu.append({"name": checked["name"], "sub_button": sub})
    return {"button": menu}
