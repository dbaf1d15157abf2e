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
from dataclasses import replace
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
# Threads onnxruntime may use per worker (WEIQUAN_PHOTO_THREADS; 0 lets it choose). One: with
# more, its threads spin while they wait for each other, which cost 3.7 CPU s per photo here
# against 2.1 s for the same readings (benchmarks/RESULTS.md).
THREADS = int(os.environ.get("WEIQUAN_PHOTO_THREADS", "1") or 0)
# RapidOCR's own default scales every picture *up* until its short side is 736 px before
# detection; a label photo here is already legible at its size (at most MAX_SIDE), so
# detection runs on it as it is, only ever scaled down (to a longest side of 960 px).
OPTIONS: dict[str, Any] = {"det_limit_type": "max", "det_limit_side_len": 960}
# A photo that reads as no field, no code and less text than SIDEWAYS_TEXT characters is
# tried again turned a quarter each way (a label photographed sideways), each turn only if
# another reading as long as the first still fits in BUDGET seconds (within the pool's
# per-photo limit; ``bot.photowork.tune_worker`` sets it from the settings).
SIDEWAYS_TEXT = 12
BUDGET = 20.0

_engine: Any = None
_engine_lock = threading.Lock()


def engine() -> Any:
    """The OCR engine of this process, loaded once on first use."""
    global _engine
    with _engine_lock:
        if _engine is None:
            from rapidocr_onnxruntime import RapidOCR

            threads = {"intra_op_num_threads": THREADS, "inter_op_num_threads": 1}
            _engine = RapidOCR(**OPTIONS, **(threads if THREADS > 0 else {}))
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


def _read(image: Image.Image) -> Reading:
    return build_reading(
        read_lines(image), read_codes(image), width=image.width, height=image.height
    )


def too_little(reading: Reading) -> bool:
    """Nothing a check could use: no field, no code, hardly any text."""
    return not reading.fields and not reading.qr and len(reading.text) < SIDEWAYS_TEXT


def _score(reading: Reading) -> tuple[int, int, int]:
    return len(reading.fields), len(reading.qr), len(reading.text)


def recognise(data: bytes) -> Reading:
    """Everything read from one photo; a photo that reads as too little is tried again
    turned 90° and 270° while the time limit allows, and the best reading is kept."""
    started = time.perf_counter()
    image = decode(data)
    reading = _read(image)
    first = time.perf_counter() - started
    if too_little(reading):
        for turn in (Image.Transpose.ROTATE_270, Image.Transpose.ROTATE_90):
            if time.perf_counter() - started + first > BUDGET:
                break
            turned = _read(image.transpose(turn))
            if _score(turned) > _score(reading):
                reading = turned
            if not too_little(reading):
                break
    return replace(reading, seconds=round(time.perf_counter() - started, 3))
