"""Run inside an OCR pool worker process (pickled by reference, so module-level)."""

from __future__ import annotations

import os

from bot.photocheck.types import OcrLine, Reading


def report_tuning(image: bytes) -> Reading:
    """What the worker runs with: its niceness and the thread count its models would get."""
    from bot.photocheck import worker

    return Reading(lines=(OcrLine(f"nice={os.nice(0)} threads={worker.THREADS}", 1.0),))
