"""Recognisers the pool tests run in its worker processes (module level: they are pickled)."""

from __future__ import annotations

import os
import time

from bot.photocheck.errors import Unreadable
from bot.photocheck.fields import build_reading
from bot.photocheck.types import OcrLine, Reading


def slow(image: bytes) -> Reading:
    """Sleeps the seconds the photo's bytes say, then reports which process read it."""
    time.sleep(float(image.decode()))
    return build_reading([OcrLine(f"pid {os.getpid()}", 1.0)])


def picky(image: bytes) -> Reading:
    if image == b"not a picture":
        raise Unreadable("not a picture we can read")
    if image == b"bug":
        raise RuntimeError("a bug")
    return build_reading([OcrLine(f"pid {os.getpid()}", 1.0)])


def slow_start() -> None:
    time.sleep(2.0)


def broken_start() -> None:
    raise RuntimeError("models missing")
