"""Uploaded photos lose their metadata before they are stored: EXIF (GPS, camera, owner), XMP,
PNG text chunks and comments can identify a reporter, and staff never need them.

A picture that carries any is decoded and encoded again with only what it needs to look the
same (orientation applied to the pixels, colour profile, transparency, frame timings); one
that carries none is stored byte for byte. No original is kept, so the stored file's SHA-256
is that of the stored copy. HEIC/HEIF, which Pillow cannot decode here, keep their bytes but
for their EXIF and XMP, zeroed in place (``bot.heif``); BMP has no metadata (docs/security.md).
"""

from __future__ import annotations

import io
import logging
import struct
import warnings
from typing import Any

from PIL import Image, ImageOps, ImageSequence

from bot import heif

log = logging.getLogger(__name__)

# Pillow format names of the types we clean; anything else is stored unchanged.
FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP", "image/gif": "GIF"}
# Not decoded here: their EXIF and XMP items are blanked in place (bot/heif.py).
HEIF_TYPES = {"image/heic", "image/heif"}
# Larger pictures than any phone camera takes are refused rather than decoded (memory).
MAX_PIXELS = 64_000_000
# Per-frame info that changes how a picture looks; every other key (exif, xmp, comment,
# text chunks, dpi, …) is dropped.
KEEP_INFO = ("transparency", "duration", "loop", "background", "disposal")
# What a picture may carry and still be stored as it came: JPEG segments (APP0 JFIF, APP2
# colour profile, APP14 Adobe), PNG chunks, WebP chunks, GIF info keys.
CLEAN_JPEG_APPS = {("APP0", b"JFIF"), ("APP2", b"ICC_PROFILE"), ("APP14", b"Adobe")}
CLEAN_PNG_CHUNKS = {
    b"IHDR",
    b"PLTE",
    b"IDAT",
    b"IEND",
    b"tRNS",
    b"gAMA",
    b"cHRM",
    b"sRGB",
    b"iCCP",
    b"sBIT",
    b"pHYs",
    b"bKGD",
    b"acTL",
    b"fcTL",
    b"fdAT",
}
CLEAN_WEBP_CHUNKS = {b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF", b"ICCP"}
CLEAN_GIF_INFO = {"version", "background", "transparency", "duration", "loop", "extension"}


class UnreadableImage(ValueError):
    """The bytes claim an image type but cannot be decoded (or are absurdly large)."""


def strip_metadata(data: bytes, content_type: str) -> bytes:
    """The same picture without metadata; bytes in, bytes out (runs in a worker thread)."""
    if content_type in HEIF_TYPES:
        try:
            return heif.blank_metadata(data)
        except (heif.UnsupportedLayout, IndexError, struct.error) as exc:
            log.warning("HEIF photo stored with its metadata: %s", exc)
            return data
    fmt = FORMATS.get(content_type)
    if fmt is None:
        return data
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise UnreadableImage(f"{width}x{height} is too large")
                if not carries_metadata(image, data, fmt):
                    return data
                return _reencode(image, fmt)
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        if isinstance(exc, UnreadableImage):
            raise
        raise UnreadableImage(f"{type(exc).__name__}: {exc}") from None
    except Image.DecompressionBombWarning as exc:
        raise UnreadableImage(str(exc)) from None


def _png_chunks(data: bytes) -> set[bytes]:
    kinds, at = set(), 8
    while at + 8 <= len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kinds.add(data[at + 4 : at + 8])
        at += 12 + length
    return kinds


def _riff_chunks(data: bytes) -> set[bytes]:
    kinds, at = set(), 12
    while at + 8 <= len(data):
        (length,) = struct.unpack("<I", data[at + 4 : at + 8])
        kinds.add(data[at : at + 4])
        at += 8 + length + (length & 1)
    return kinds


def carries_metadata(image: Image.Image, data: bytes, fmt: str) -> bool:
    """Whether anything beyond pixels, colour and timing is in the file (unknown counts)."""
    if fmt == "JPEG":
        for marker, payload in getattr(image, "applist", []):
            if not any(marker == m and payload.startswith(tag) for m, tag in CLEAN_JPEG_APPS):
                return True
        return "comment" in image.info
    if fmt == "PNG":
        return not _png_chunks(data) <= CLEAN_PNG_CHUNKS
    if fmt == "WEBP":
        return not _riff_chunks(data) <= CLEAN_WEBP_CHUNKS
    extension = image.info.get("extension")
    foreign = extension is not None and not extension[0].startswith(b"NETSCAPE")
    return foreign or not set(image.info) <= CLEAN_GIF_INFO


def _clean(frame: Image.Image) -> Image.Image:
    copy = frame.copy()
    copy.info = {k: frame.info[k] for k in KEEP_INFO if k in frame.info}
    return copy


def _reencode(image: Image.Image, fmt: str) -> bytes:
    icc = image.info.get("icc_profile")
    options: dict[str, Any] = {"format": fmt}
    if icc:
        options["icc_profile"] = icc
    frames = getattr(image, "n_frames", 1)
    out = io.BytesIO()
    if frames > 1:
        sequence = [_clean(f) for f in ImageSequence.Iterator(image)]
        first = sequence[0]
        if fmt == "WEBP":
            options["lossless"] = True
        first.save(
            out,
            save_all=True,
            append_images=sequence[1:],
            duration=[f.info.get("duration", 100) for f in sequence],
            loop=image.info.get("loop", 0),
            **options,
        )
        return out.getvalue()
    # Orientation goes into the pixels, so the picture still stands the right way up.
    upright = ImageOps.exif_transpose(image)
    clean = _clean(upright if upright is not None else image)
    if fmt == "JPEG":
        options.update(quality=95)
    elif fmt == "WEBP":
        options.update(quality=95)
    if "transparency" in clean.info and fmt in {"PNG", "GIF"}:
        options["transparency"] = clean.info["transparency"]
    clean.save(out, **options)
    return out.getvalue()
