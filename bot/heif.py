"""EXIF and XMP blanked inside a HEIC/HEIF file, which nothing here can decode and encode again.

In HEIF, metadata are items of their own (type ``Exif``, or ``mime`` with an XML content type)
whose bytes the ``iloc`` box locates. Overwriting those bytes with zeros removes the GPS
position and the rest while every offset, and the picture itself, stays as it was; the
orientation lives in the picture's own properties (``irot``/``imir``), not in EXIF. A layout
this reader does not follow is reported, never guessed at.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator


class UnsupportedLayout(ValueError):
    """The file is not laid out the way this reader can follow safely."""


Box = tuple[bytes, int, int]  # type, start of its content, end


def _boxes(data: bytes, start: int, end: int) -> Iterator[Box]:
    at = start
    while at + 8 <= end:
        size, kind = struct.unpack(">I4s", data[at : at + 8])
        header = 8
        if size == 1:
            if at + 16 > end:
                raise UnsupportedLayout("truncated box header")
            (size,) = struct.unpack(">Q", data[at + 8 : at + 16])
            header = 16
        elif size == 0:
            size = end - at
        if size < header or at + size > end:
            raise UnsupportedLayout(f"box {kind!r} overruns its parent")
        yield kind, at + header, at + size
        at += size


def _child(data: bytes, parent: Box, kind: bytes, skip: int = 0) -> Box | None:
    return next((b for b in _boxes(data, parent[1] + skip, parent[2]) if b[0] == kind), None)


def _uint(data: bytes, at: int, size: int) -> int:
    if size == 0:
        return 0
    if size not in (4, 8) or at + size > len(data):
        raise UnsupportedLayout(f"field of {size} bytes")
    return int.from_bytes(data[at : at + size], "big")


def _metadata_items(data: bytes, iinf: Box) -> set[int]:
    """Ids of the Exif and XMP items listed in ``iinf``."""
    version = data[iinf[1]]
    skip = 4 + (2 if version == 0 else 4)
    found: set[int] = set()
    for kind, start, end in _boxes(data, iinf[1] + skip, iinf[2]):
        if kind != b"infe":
            continue
        infe_version = data[start]
        if infe_version < 2:
            raise UnsupportedLayout("item info entry before version 2")
        id_size = 2 if infe_version == 2 else 4
        at = start + 4
        item_id = int.from_bytes(data[at : at + id_size], "big")
        at += id_size + 2
        item_type = data[at : at + 4]
        # Then item_name and, for mime items, content_type: NUL-terminated strings.
        strings = data[at + 4 : end].split(b"\0")
        content_type = strings[1] if len(strings) > 1 else b""
        if item_type == b"Exif" or (item_type == b"mime" and b"xml" in content_type):
            found.add(item_id)
    return found


def _extents(data: bytes, iloc: Box, wanted: set[int], idat: Box | None) -> list[tuple[int, int]]:
    """(offset, length) in the file of every extent of the ``wanted`` items."""
    version = data[iloc[1]]
    at = iloc[1] + 4
    offset_size, length_size = data[at] >> 4, data[at] & 15
    base_size, index_size = data[at + 1] >> 4, (data[at + 1] & 15 if version else 0)
    at += 2
    count_size = 2 if version < 2 else 4
    count = int.from_bytes(data[at : at + count_size], "big")
    at += count_size
    spans: list[tuple[int, int]] = []
    for _ in range(count):
        item_id = int.from_bytes(data[at : at + count_size], "big")
        at += count_size
        method = 0
        if version in (1, 2):
            method = int.from_bytes(data[at : at + 2], "big") & 15
            at += 2
        at += 2  # data_reference_index
        base = _uint(data, at, base_size)
        at += base_size
        (extent_count,) = struct.unpack(">H", data[at : at + 2])
        at += 2
        for _ in range(extent_count):
            at += index_size
            offset = _uint(data, at, offset_size)
            length = _uint(data, at + offset_size, length_size)
            at += offset_size + length_size
            if item_id not in wanted:
                continue
            if method == 1 and idat is not None:
                offset += idat[1]
            elif method != 0:
                raise UnsupportedLayout(f"construction method {method}")
            if length == 0 or base + offset + length > len(data):
                raise UnsupportedLayout("extent outside the file")
            spans.append((base + offset, length))
        if at > iloc[2]:
            raise UnsupportedLayout("iloc overruns its box")
    return spans


def blank_metadata(data: bytes) -> bytes:
    """The file with its Exif and XMP items' bytes zeroed (same length, same layout)."""
    top = (b"", 0, len(data))
    meta = _child(data, top, b"meta")
    if meta is None:
        return data
    meta = (meta[0], meta[1] + 4, meta[2])  # a full box: version and flags first
    iinf, iloc = _child(data, meta, b"iinf"), _child(data, meta, b"iloc")
    if iinf is None or iloc is None:
        return data
    wanted = _metadata_items(data, iinf)
    if not wanted:
        return data
    clean = bytearray(data)
    for offset, length in _extents(data, iloc, wanted, _child(data, meta, b"idat")):
        clean[offset : offset + length] = bytes(length)
    return bytes(clean)
