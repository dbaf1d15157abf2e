"""Evidence files on disk, content-addressed by SHA-256, written before any row refers to them."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import filetype

IMAGE_TYPES = {
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "image/bmp",
    "image/heic",
    "image/heif",
}


class NotAnImage(ValueError):
    """The bytes are not a picture format we accept (checked by content, not by name)."""


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    size: int
    content_type: str
    filename: str | None = None


def sniff_image(data: bytes) -> str:
    kind = filetype.guess(data[:512])
    if kind is None or kind.mime not in IMAGE_TYPES:
        raise NotAnImage(kind.mime if kind else "unknown")
    return str(kind.mime)


class EvidenceStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def _write(self, data: bytes, sha256: str) -> None:
        target = self.path_for(sha256)
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def save_image(self, data: bytes, filename: str | None = None) -> StoredFile:
        """Store an image and return its reference; raises NotAnImage for anything else."""
        content_type = sniff_image(data)
        sha256 = hashlib.sha256(data).hexdigest()
        await asyncio.to_thread(self._write, data, sha256)
        return StoredFile(
            sha256=sha256, size=len(data), content_type=content_type, filename=filename
        )

    def read(self, sha256: str) -> bytes:
        return self.path_for(sha256).read_bytes()
