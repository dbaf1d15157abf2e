"""Replies as WeChat text: buttons become clickable ``bizmsgmenu`` links, and back again.

WeChat passive text replies have no inline buttons. A ``weixin://bizmsgmenu`` link sends its
title back as a text message carrying ``bizmsgmenuid``; the user may also type the title or,
where the last question listed numbered choices, the number. ``resolve`` maps all three to
the button's payload, using the buttons of the replies last sent (kept with the message).
"""

from __future__ import annotations

from collections.abc import Sequence

from dialogues.model import Button, Reply

_HREF_UNSAFE = str.maketrans({'"': "", "<": "", ">": "", "&": "", "\n": " "})
ELLIPSIS = "…"


def link(menu_id: int, title: str) -> str:
    clean = title.translate(_HREF_UNSAFE)
    return f'<a href="weixin://bizmsgmenu?msgmenucontent={clean}&msgmenuid={menu_id}">{clean}</a>'


def _numbered_reply(replies: Sequence[Reply]) -> int | None:
    """Index of the reply whose buttons are numbered: the last one offering two or more."""
    for index in range(len(replies) - 1, -1, -1):
        if replies[index].buttons:
            return index if len(replies[index].buttons) >= 2 else None
    return None


def render_each(replies: Sequence[Reply]) -> list[str]:
    """One text per reply; ``msgmenuid`` counts buttons across all replies from 1."""
    numbered = _numbered_reply(replies)
    texts: list[str] = []
    menu_id = 0
    for index, reply in enumerate(replies):
        lines = reply.text.split("\n") if reply.text else []
        for number, button in enumerate(reply.buttons, start=1):
            menu_id += 1
            anchor = link(menu_id, button.title)
            if index != numbered:
                lines.append(anchor)
                continue
            plain = f"{number}. {button.title}"
            if plain in lines:
                # The text already lists the choices (the main menu): make that line clickable.
                lines[lines.index(plain)] = f"{number}. {anchor}"
            else:
                lines.append(f"{number}. {anchor}")
        texts.append("\n".join(lines))
    return texts


def render(replies: Sequence[Reply]) -> str:
    return "\n\n".join(t for t in render_each(replies) if t)


def offered(replies: Sequence[Reply]) -> tuple[list[Button], list[Button]]:
    """(every button in ``msgmenuid`` order, the numbered ones in display order)."""
    every = [b for r in replies for b in r.buttons]
    numbered = _numbered_reply(replies)
    return every, (list(replies[numbered].buttons) if numbered is not None else [])


def resolve(text: str, menu_id: str | None, replies: Sequence[Reply]) -> str | None:
    """The payload the user chose, or None when the text is an ordinary answer."""
    every, numbered = offered(replies)
    # isdecimal, not isdigit: int() refuses "²" and "①", which isdigit accepts
    if menu_id and menu_id.isdecimal() and len(menu_id) <= 3 and 1 <= int(menu_id) <= len(every):
        chosen = every[int(menu_id) - 1]
        if chosen.title.translate(_HREF_UNSAFE) == text.strip() or not text.strip():
            return chosen.payload
    cleaned = text.strip().rstrip("。.")
    if (
        cleaned.isdecimal()
        and len(cleaned) <= 3
        and numbered
        and 1 <= int(cleaned) <= len(numbered)
    ):
        return numbered[int(cleaned) - 1].payload
    for button in reversed(every):
        if cleaned and cleaned in {button.title, button.title.translate(_HREF_UNSAFE)}:
            return button.payload
    return None


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _cut(text: str, limit: int) -> str:
    """The longest prefix of ``text`` within ``limit`` bytes, on a character boundary."""
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore")


def split(text: str, limit: int) -> list[str]:
    """Chunks of at most ``limit`` bytes, broken between lines (a link is never cut)."""
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        while _size(line) > limit:
            head = _cut(line, limit)
            if current:
                chunks.append(current)
                current = ""
            chunks.append(head)
            line = line[len(head) :]
        candidate = f"{current}\n{line}" if current else line
        if _size(candidate) > limit:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current:
        chunks.append(current)
    return [c for c in chunks if c.strip()]


def shorten(text: str, limit: int) -> str:
    """Fit ``limit`` bytes by trimming the longest plain lines (echoed answers), keeping the
    question and its links, which sit on short lines of their own."""
    lines = text.split("\n")
    while (total := _size("\n".join(lines))) > limit:
        plain = [i for i, line in enumerate(lines) if "<a href=" not in line and _size(line) > 16]
        if not plain:
            return _cut("\n".join(lines), limit - _size(ELLIPSIS)) + ELLIPSIS
        longest = max(plain, key=lambda i: _size(lines[i]))
        keep = max(8, _size(lines[longest]) - (total - limit) - _size(ELLIPSIS))
        lines[longest] = _cut(lines[longest], keep) + ELLIPSIS
    return "\n".join(lines)
