"""Recognition itself: decode, OCR (RapidOCR, PP-OCRv4 models inside the wheel), QR codes.

Runs in a pool worker process (``bot.photocheck.pool``) or directly (benchmarks, tests). The
models load on the first photo of a process and stay loaded; nothing is downloaded.
"""

from __future__ import annotations

import io
import os
import threading
import time
import warnings
from typing import Any

from PIL import Image, ImageOps

from bot.photocheck.errors import Unreadable
from bot.photocheck.fields import build_reading, classify_qr
from bot.photocheck.types import OcrLine, QrCode, Reading

# Larger pictures are refused rather than decoded (memory); as bot.photos.
MAX_PIXELS = 64_000_000
# Phone photos are scaled down to this longest side before recognition: label text stays
# legible and recognition time stays bounded.
MAX_SIDE = 1600
# Threads onnxruntime may use per worker (WEIQUAN_PHOTO_THREADS); 0 lets it choose.
THREADS = int(os.environ.get("WEIQUAN_PHOTO_THREADS", "0") or 0)

_engine: Any = None
_engine_lock = threading.Lock()


def engine() -> Any:
    """The OCR engine of this process, loaded once on first use."""
    global _engine
    with _engine_lock:
        if _engine is None:
            from rapidocr_onnxruntime import RapidOCR

            options = {"intra_op_num_threads": THREADS} if THREADS > 0 else {}
            _engine = RapidOCR(**options)
        return _engine


def prepare() -> None:
    """Load the models and the barcode reader now (a worker does this before its first photo)."""
    import zxingcpp  # noqa: F401

    engine()


def decode(data: bytes) -> Image.Image:
    """An RGB picture the right way up, no larger than MAX_SIDE; Unreadable otherwise."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(data))
            if opened.width * opened.height > MAX_PIXELS:
                raise Unreadable("the picture is too large")
            image = ImageOps.exif_transpose(opened).convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as exc:  # fmt: skip
        raise Unreadable("not a picture we can read") from exc
    if max(image.size) > MAX_SIDE:
        image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    return image


def read_codes(image: Image.Image) -> list[QrCode]:
    import zxingcpp

    found: list[QrCode] = []
    for code in zxingcpp.read_barcodes(image):
        if code.valid and code.text:
            found.append(classify_qr(str(code.format), code.text))
    return found


def read_lines(image: Image.Image) -> list[OcrLine]:
    import numpy as np

    bgr = np.ascontiguousarray(np.asarray(image)[:, :, ::-1])
    result, _elapsed = engine()(bgr)
    lines: list[OcrLine] = []
    for box, text, score in result or ():
        corners = tuple((round(float(x), 1), round(float(y), 1)) for x, y in box)
        lines.append(OcrLine(str(text), round(float(score), 3), corners))
    return lines


def recognise(data: bytes) -> Reading:
    """Everything read from one photo."""
    started = time.perf_counter()
    image = decode(data)
    codes = read_codes(image)
    lines = read_lines(image)
    return build_reading(
        lines,
        codes,
        width=image.width,
        height=image.height,
        seconds=round(time.perf_counter() - started, 3),
    )
