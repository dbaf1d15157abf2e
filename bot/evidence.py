"""Evidence files on disk, content-addressed by SHA-256 of their clear content, encrypted at
rest, written before any row refers to them."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import filetype
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot.crypto import Keyring, UndecryptableValue
from bot.photos import UnreadableImage, strip_metadata

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
    """The files under ``root``, sealed with ``keyring`` (the app's personal-data keys)."""

    def __init__(self, root: Path, keyring: Keyring) -> None:
        self.root = root
        self.keyring = keyring

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def _write(self, data: bytes, sha256: str) -> None:
        target = self.path_for(sha256)
        try:
            # Sent again: the new time tells housekeeping a row is about to refer to it.
            os.utime(target)
            return
        except FileNotFoundError:
            pass
        self._replace(target, seal_file(data, sha256, self.keyring))

    @staticmethod
    def _replace(target: Path, content: bytes) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def save_image(self, data: bytes, filename: str | None = None) -> StoredFile:
        """Store an image and return its reference; raises NotAnImage for anything else."""
        content_type = sniff_image(data)
        # Metadata (GPS above all) never reaches the disk; the hash is the cleaned copy's.
        try:
            data = await asyncio.to_thread(strip_metadata, data, content_type)
        except UnreadableImage as exc:
            raise NotAnImage(f"{content_type} ({exc})") from None
        sha256 = hashlib.sha256(data).hexdigest()
        await asyncio.to_thread(self._write, data, sha256)
        return StoredFile(
            sha256=sha256, size=len(data), content_type=content_type, filename=filename
        )

    def read(self, sha256: str) -> bytes:
        """The clear file (decrypted; files from before encryption as they were stored)."""
        return open_file(self.path_for(sha256).read_bytes(), sha256, self.keyring)

    async def load(self, sha256: str) -> bytes | None:
        """``read`` off the event loop; None when the file is missing."""
        try:
            return await asyncio.to_thread(self.read, sha256)
        except FileNotFoundError:
            return None

    def names(self) -> Iterator[str]:
        """Every stored file's name (its SHA-256), for key rotation."""
        for path in sorted(self.root.glob("??/??/*")):
            if len(path.name) == 64 and all(c in "0123456789abcdef" for c in path.name):
                yield path.name

    def is_current(self, sha256: str) -> bool:
        """Whether a file is encrypted under the current key (else rotation rewrites it)."""
        with self.path_for(sha256).open("rb") as handle:
            head = handle.read(len(MAGIC) + 2 + 256)
        return is_sealed(head) and self.keyring.is_current(_wrapped_key(head))

    def reseal(self, sha256: str) -> bool:
        """Rewrite one file under the current key (encrypting a clear one); False if current."""
        if self.is_current(sha256):
            return False
        plain = self.read(sha256)
        if hashlib.sha256(plain).hexdigest() != sha256:
            raise UndecryptableValue(f"evidence {sha256}: content does not match its name")
        self._replace(self.path_for(sha256), seal_file(plain, sha256, self.keyring))
        return True


def disposition(kind: str, filename: str) -> str:
    """A Content-Disposition value for a download served from memory (names may be Chinese)."""
    quoted = quote(filename)
    if quoted != filename:
        return f"{kind}; filename*=utf-8''{quoted}"
    return f'{kind}; filename="{filename}"'


# An encrypted file: MAGIC, the length of the wrapped key, the file's own random key wrapped
# by the personal-data keyring (a token with a key id), then nonce and AES-GCM ciphertext.
# The wrapped key lives in the file so one atomic rename writes both, and every case sharing
# the content-addressed file shares its key. The file's SHA-256 (its name) is bound in.
MAGIC = b"WQEV1\n"


def is_sealed(stored: bytes) -> bool:
    return stored.startswith(MAGIC)


def seal_file(data: bytes, sha256: str, keyring: Keyring) -> bytes:
    file_key = AESGCM.generate_key(bit_length=256)
    wrapped = keyring.encrypt(base64.b64encode(file_key).decode(), f"evidence#{sha256}")
    header = wrapped.encode("ascii")
    nonce = os.urandom(12)
    body = AESGCM(file_key).encrypt(nonce, data, f"evidence#{sha256}".encode())
    return MAGIC + struct.pack(">H", len(header)) + header + nonce + body


def _wrapped_key(stored: bytes) -> str:
    (length,) = struct.unpack(">H", stored[len(MAGIC) : len(MAGIC) + 2])
    start = len(MAGIC) + 2
    return stored[start : start + length].decode("ascii")


def open_file(stored: bytes, sha256: str, keyring: Keyring) -> bytes:
    if not is_sealed(stored):
        return stored  # stored before evidence was encrypted; `weiquan keys rotate` seals it
    wrapped = _wrapped_key(stored)
    file_key = base64.b64decode(keyring.decrypt(wrapped, f"evidence#{sha256}"))
    rest = stored[len(MAGIC) + 2 + len(wrapped) :]
    try:
        return AESGCM(file_key).decrypt(rest[:12], rest[12:], f"evidence#{sha256}".encode())
    except InvalidTag:
        raise UndecryptableValue(f"evidence {sha256}: the file was altered") from None
