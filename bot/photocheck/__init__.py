"""Check it from a photo: read labels, CCC stickers, packaging and listing screenshots.

``OcrPool`` (``bot.photocheck.pool``) is the real ``PhotoReader``: OCR and QR decoding in
worker processes, loaded on the first photo. ``check`` (``bot.photocheck.verdict``) sets a
``Reading`` against the CCC registry and catalogue. Importing this package loads no model.
"""

from bot.photocheck.errors import Busy, PhotoError, ReadTimeout, Unreadable
from bot.photocheck.types import (
    Agreement,
    Comparison,
    IdentifierCheck,
    Kind,
    Mark,
    OcrLine,
    Outcome,
    PhotoReader,
    PhotoVerdict,
    QrCode,
    ReadField,
    Reading,
)

__all__ = [
    "Agreement",
    "Busy",
    "Comparison",
    "IdentifierCheck",
    "Kind",
    "Mark",
    "OcrLine",
    "Outcome",
    "PhotoError",
    "PhotoReader",
    "PhotoVerdict",
    "QrCode",
    "ReadField",
    "ReadTimeout",
    "Reading",
    "Unreadable",
]
