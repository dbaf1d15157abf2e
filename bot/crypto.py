"""AES-GCM encryption of personal data at rest, and column types that apply it transparently.

Column types are built at import time but the key arrives with the settings at start-up, so
the key lives in a process-wide ``Keyring`` that the back-office extension configures; code
that runs without the extension (CLI, other tests) falls back to the same settings lookup.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import JSON, Text, TypeDecorator
from sqlalchemy.engine import Dialect

log = logging.getLogger(__name__)
PREFIX = "v1:"
KEY_FILE = "pii.key"


class FieldCipher:
    """Encrypts short strings with AES-256-GCM; a fresh 96-bit nonce per value."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the personal-data key must be 32 bytes (AES-256)")
        self._aead = AESGCM(key)

    def encrypt(self, plain: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plain.encode("utf-8"), PREFIX.encode())
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, token: str) -> str:
        raw = base64.urlsafe_b64decode(token[len(PREFIX) :].encode("ascii"))
        return self._aead.decrypt(raw[:12], raw[12:], PREFIX.encode()).decode("utf-8")


def parse_key(value: str) -> bytes:
    """A key given in settings: 32 bytes as URL-safe base64 (``weiquan staff new-key``)."""
    key = base64.urlsafe_b64decode(value.strip().encode("ascii") + b"==")
    if len(key) != 32:
        raise ValueError("WEIQUAN_PII_KEY must be 32 bytes encoded as URL-safe base64")
    return key


def new_key_text() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii").rstrip("=")


def key_file_key(data_dir: Path) -> bytes:
    """The embedded default: a key file under ``var/`` created once with mode 0600."""
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(new_key_text() + "\n")
        log.warning("created personal-data key %s: back it up, data is unreadable without it", path)
    return parse_key(path.read_text(encoding="ascii"))


def cipher_for(pii_key: str | None, data_dir: Path) -> FieldCipher:
    return FieldCipher(parse_key(pii_key) if pii_key else key_file_key(data_dir))


class Keyring:
    """Holds the process's cipher; set at start-up, built from the environment if never set."""

    def __init__(self) -> None:
        self._cipher: FieldCipher | None = None

    def configure(self, cipher: FieldCipher) -> None:
        self._cipher = cipher

    @property
    def cipher(self) -> FieldCipher:
        if self._cipher is None:
            from bot.staff.settings import BackofficeSettings

            settings = BackofficeSettings()
            self._cipher = cipher_for(settings.pii_key, settings.data_dir)
        return self._cipher


KEYRING = Keyring()


class EncryptedJSON(TypeDecorator[Any]):
    """A JSON value stored as one encrypted JSON string; legacy clear values still read."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        return KEYRING.cipher.encrypt(json.dumps(value, ensure_ascii=False))

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, str) and value.startswith(PREFIX):
            return json.loads(KEYRING.cipher.decrypt(value))
        return value


class EncryptedText(TypeDecorator[str]):
    """Text stored encrypted; legacy clear values still read."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return KEYRING.cipher.encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if value is not None and value.startswith(PREFIX):
            return KEYRING.cipher.decrypt(value)
        return value


def mask(value: Any, *, keep_end: int = 0) -> str:
    """``张三`` → ``张*``, ``13512345678`` → ``135****5678``; never shows a value whole."""
    text = str(value or "")
    if not text:
        return ""
    if len(text) >= 15 and text[:-1].isdigit():  # ID card number
        return text[:3] + "*" * (len(text) - 5) + text[-2:]
    if text.isdigit() and len(text) >= 7:  # phone
        return text[:3] + "*" * (len(text) - 7) + text[-4:]
    if len(text) <= 2:
        return text[0] + "*"
    return text[0] + "*" * (len(text) - 1 - keep_end) + (text[-keep_end:] if keep_end else "")
