"""Why a photo was not read; each carries a short message the chat may word differently."""

from __future__ import annotations


class PhotoError(Exception):
    """Base of the reader's refusals."""


class Busy(PhotoError):
    """Every worker is busy and the queue is full: ask the user to try again in a minute."""

    def __init__(self, message: str = "busy, try again in a minute") -> None:
        super().__init__(message)


class ReadTimeout(PhotoError):
    """The photo took longer than the per-photo limit; its worker was restarted."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"reading the photo took longer than {seconds:g} s")
        self.seconds = seconds


class Unreadable(PhotoError):
    """Not a picture we can decode (or far too large)."""
