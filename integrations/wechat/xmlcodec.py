"""WeChat's XML in and out: parsed with entities refused, rendered with CDATA made safe.

xmltodict (what wechatpy uses) already refuses entity declarations; the guard below also
refuses any DOCTYPE before expat sees it, so no DTD is read and nothing is ever expanded.
"""

from __future__ import annotations

import re
import time
from typing import Any
from xml.parsers.expat import ExpatError

import xmltodict

_DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_MAX_DEPTH = 3


class BadXml(ValueError):
    """The body is not a WeChat message we can read (400, never a 500)."""


def parse(body: bytes | str) -> dict[str, str]:
    """A flat ``{element: text}`` of the ``<xml>`` root; nested or repeated elements refused."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    if _DTD.search(raw):
        raise BadXml("DTDs and entities are not accepted")
    try:
        document = xmltodict.parse(raw, disable_entities=True)
    except (ExpatError, ValueError, UnicodeDecodeError) as exc:
        raise BadXml(f"malformed XML: {exc}") from None
    root = document.get("xml") if isinstance(document, dict) else None
    if not isinstance(root, dict):
        raise BadXml("the root element must be <xml> with children")
    flat: dict[str, str] = {}
    for key, value in root.items():
        if value is None:
            flat[key] = ""
        elif isinstance(value, str):
            flat[key] = value
        elif isinstance(value, dict) and not _deeper_than(value, _MAX_DEPTH):
            # WeChat nests a few event payloads (e.g. SendPicsInfo); keep them out of the way.
            flat[key] = ""
        else:
            raise BadXml(f"unexpected structure in <{key}>")
    return flat


def _deeper_than(value: Any, depth: int) -> bool:
    if depth <= 0:
        return True
    if isinstance(value, dict):
        return any(_deeper_than(v, depth - 1) for v in value.values())
    if isinstance(value, list):
        return any(_deeper_than(v, depth - 1) for v in value)
    return False


def cdata(text: str) -> str:
    """Wrap in CDATA; a ``]]>`` inside is split across two sections so it cannot close early."""
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def text_reply(*, to_user: str, from_user: str, content: str, now: float | None = None) -> str:
    """A passive text reply (被动回复 文本消息)."""
    created = int(now if now is not None else time.time())
    return (
        "<xml>"
        f"<ToUserName>{cdata(to_user)}</ToUserName>"
        f"<FromUserName>{cdata(from_user)}</FromUserName>"
        f"<CreateTime>{created}</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{cdata(content)}</Content>"
        "</xml>"
    )
