"""AES-GCM encryption of personal data at rest, with key ids, bound to where a value lives.

A value is stored as ``v2:<key id>:<base64(nonce + ciphertext)>``; its associated data names
its table and field (``transcript.text``) and, for row-bound columns, the row's natural key
(``cases.personal#TS20261127000042``), so a value copied elsewhere refuses to decrypt.
Values written before key ids (``v1:``, one key, no binding) still read until rotated.

Column types are built at import time, keys with each app: every engine an app (or a command)
builds carries that app's keyring on its dialect (``use_keyring``), and the types read it from
the dialect SQLAlchemy hands to each bind and result processor. Two apps in one process never
see each other's keys, and an engine built without a keyring refuses personal data outright.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import JSON, Text, TypeDecorator, event, type_coerce
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapper
from sqlalchemy.sql.functions import FunctionElement

log = logging.getLogger(__name__)
LEGACY_PREFIX = "v1:"
PREFIX = "v2:"
KEY_FILE = "pii.key"


class KeyConfigurationError(ValueError):
    """The personal-data keys are missing or malformed; the message names the setting."""


class UndecryptableValue(ValueError):
    """A stored value that no configured key opens in this place: a wrong or removed key, a
    tampered value, or a value copied from another row or field."""


def is_token(value: object) -> bool:
    return isinstance(value, str) and value.startswith((PREFIX, LEGACY_PREFIX))


def parse_key(value: str, setting: str = "WEIQUAN_PII_KEY") -> bytes:
    """A key given in settings: 32 bytes as URL-safe base64 (``weiquan keys new``)."""
    try:
        key = base64.urlsafe_b64decode(value.strip().encode("ascii") + b"==")
    except (ValueError, UnicodeEncodeError) as exc:
        raise KeyConfigurationError(f"{setting}: not URL-safe base64") from exc
    if len(key) != 32:
        raise KeyConfigurationError(f"{setting} must be 32 bytes encoded as URL-safe base64")
    return key


def new_key_text() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii").rstrip("=")


def key_id(key: bytes) -> str:
    """A key's id, derived from the key itself, so operators never name keys by hand."""
    return hmac.new(key, b"weiquan personal-data key id", hashlib.sha256).hexdigest()[:8]


class Keyring:
    """The current key (every new write) and older keys (read until rotation is finished)."""

    def __init__(self, current: bytes, older: Iterable[bytes] = ()) -> None:
        self.current_id = key_id(current)
        self._keys: dict[str, AESGCM] = {self.current_id: AESGCM(current)}
        for key in older:
            self._keys.setdefault(key_id(key), AESGCM(key))

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    def encrypt(self, plain: str, context: str) -> str:
        nonce = os.urandom(12)
        aad = f"{PREFIX}{self.current_id}|{context}".encode()
        sealed = self._keys[self.current_id].encrypt(nonce, plain.encode("utf-8"), aad)
        return f"{PREFIX}{self.current_id}:" + base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, token: str, context: str) -> str:
        if token.startswith(LEGACY_PREFIX):
            return self._decrypt_legacy(token, context)
        kid, _, body = token[len(PREFIX) :].partition(":")
        aead = self._keys.get(kid)
        if aead is None:
            raise UndecryptableValue(
                f"{context}: encrypted with key {kid}, which is not configured "
                "(add it to WEIQUAN_PII_OLD_KEYS until `weiquan keys rotate` has finished)"
            )
        try:
            raw = base64.urlsafe_b64decode(body.encode("ascii"))
            return aead.decrypt(raw[:12], raw[12:], f"{PREFIX}{kid}|{context}".encode()).decode()
        except (InvalidTag, ValueError):  # a bad tag, or not even base64 (binascii.Error)
            raise UndecryptableValue(
                f"{context}: the value does not belong here (copied from another row or field, "
                "or altered); refusing to show it"
            ) from None

    def _decrypt_legacy(self, token: str, context: str) -> str:
        for aead in self._keys.values():
            try:
                raw = base64.urlsafe_b64decode(token[len(LEGACY_PREFIX) :].encode("ascii"))
                return aead.decrypt(raw[:12], raw[12:], LEGACY_PREFIX.encode()).decode()
            except (InvalidTag, ValueError):
                continue
        raise UndecryptableValue(f"{context}: no configured key opens this value")

    def key_id_of(self, token: str) -> str | None:
        """The key a stored value was written with; None for values from before key ids."""
        if token.startswith(PREFIX):
            return token[len(PREFIX) :].partition(":")[0]
        return None

    def is_current(self, token: str) -> bool:
        return self.key_id_of(token) == self.current_id


class KeySources(Protocol):
    """Where the keys are configured (``Settings.security``)."""

    @property
    def pii_key(self) -> str | None: ...
    @property
    def pii_key_file(self) -> Path | None: ...
    @property
    def pii_old_keys(self) -> str | None: ...


class KeySettings(Protocol):
    @property
    def environment(self) -> str: ...
    @property
    def data_dir(self) -> Path: ...
    @property
    def security(self) -> KeySources: ...


def read_key_file(path: Path, setting: str) -> list[bytes]:
    """A key file: the current key on the first line, older keys on the following lines."""
    try:
        lines = path.read_text(encoding="ascii").split()
    except OSError as exc:
        raise KeyConfigurationError(f"{setting}: cannot read {path}: {exc.strerror}") from exc
    if not lines:
        raise KeyConfigurationError(f"{setting}: {path} holds no key")
    return [parse_key(line, setting) for line in lines]


def default_key_file(data_dir: Path) -> Path:
    """Development only: a key file under the data dir, created once with mode 0600.

    Written whole under a temporary name, then linked into place: the workers of a first
    start, or the CLI run beside them, find either no key file or a complete one (never the
    empty file being written), and of two creating it at once the first link wins and the
    other uses that key."""
    path = data_dir / KEY_FILE
    if path.exists():
        return path
    data_dir.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=data_dir, prefix=f".{KEY_FILE}.")  # mode 0600
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(new_key_text() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return path  # another process created it first: its key is the key
    finally:
        os.unlink(temporary)
    log.warning("created personal-data key %s: back it up, data is unreadable without it", path)
    return path


def keyring_from_settings(settings: KeySettings) -> Keyring:
    """The keyring the settings name; in production an explicit key is required."""
    keys: list[bytes]
    configured = settings.security
    if configured.pii_key:
        keys = [parse_key(configured.pii_key)]
        if configured.pii_key_file:
            keys += read_key_file(configured.pii_key_file, "WEIQUAN_PII_KEY_FILE")
    elif configured.pii_key_file:
        keys = read_key_file(configured.pii_key_file, "WEIQUAN_PII_KEY_FILE")
    elif settings.environment == "production":
        raise KeyConfigurationError(
            "WEIQUAN_PII_KEY or WEIQUAN_PII_KEY_FILE must be set in production: personal data "
            "is encrypted with it (`weiquan keys new` prints a key)"
        )
    else:
        keys = read_key_file(default_key_file(settings.data_dir), "the key file")
    old = [k for k in (configured.pii_old_keys or "").split(",") if k.strip()]
    return Keyring(keys[0], [*keys[1:], *(parse_key(k, "WEIQUAN_PII_OLD_KEYS") for k in old)])


# The attribute of an engine's dialect that holds its keyring.
_KEYRING = "weiquan_keyring"


def use_keyring(engine: Engine | AsyncEngine, keyring: Keyring) -> None:
    """Give ``engine`` the keyring its encrypted columns are written and read with. Every
    connection and session of the engine (and of ``engine.execution_options(...)`` copies)
    shares its dialect, so this reaches all of them."""
    setattr(engine.dialect, _KEYRING, keyring)


def keyring_of(bind: Engine | AsyncEngine | Connection | Dialect) -> Keyring:
    """The keyring an engine (or its connection or dialect) was given by ``use_keyring``."""
    dialect = bind if isinstance(bind, Dialect) else bind.dialect
    keyring: Keyring | None = getattr(dialect, _KEYRING, None)
    if keyring is None:
        raise KeyConfigurationError(
            "this database engine has no personal-data keyring: build it with "
            "bot.db.engine.engine_from_settings, or give make_engine a keyring"
        )
    return keyring


class EncryptedJSON(TypeDecorator[Any]):
    """A JSON value stored as one encrypted JSON string, bound to its table and field."""

    impl = JSON
    cache_ok = True

    def __init__(self, context: str) -> None:
        super().__init__()
        self.context = context

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        return keyring_of(dialect).encrypt(json.dumps(value, ensure_ascii=False), self.context)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if is_token(value):
            return json.loads(keyring_of(dialect).decrypt(value, self.context))
        return value


class EncryptedText(TypeDecorator[str]):
    """Text stored encrypted, bound to its table and field; clear legacy values still read."""

    impl = Text
    cache_ok = True

    def __init__(self, context: str) -> None:
        super().__init__()
        self.context = context

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return keyring_of(dialect).encrypt(value, self.context)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if is_token(value):
            return keyring_of(dialect).decrypt(value or "", self.context)
        return value


# Row-bound columns. A type sees only its value, so the row's natural key comes from elsewhere:
# on writes the ORM wraps each value with it (``Bound``, see ``bind_to_rows``); on reads the
# SELECT itself returns the pair [row key, stored value] (``column_expression``), so a value
# read by any query, ORM or Core, is opened with the key of the row it was read from.


@dataclass(frozen=True, slots=True)
class Bound:
    """A value with the context (``table.field#row key``) it is encrypted under. A context of
    None is only for an empty value written before its row has a key (a row whose key the
    database assigns): it is stored clear, holds nothing, and is bound on its first update."""

    value: Any
    context: str | None


EMPTY_VALUES: tuple[Any, ...] = ({}, [], "")


class RowBoundError(TypeError):
    """A row-bound column written without its row (a Core statement instead of the ORM)."""


class _RowPair(FunctionElement[Any]):
    """``[row key, value]`` as one JSON array, in each database's own spelling."""

    inherit_cache = True
    name = "row_pair"


@compiles(_RowPair)
def _row_pair_default(element: _RowPair, compiler: Any, **kw: Any) -> str:
    key, value = (compiler.process(c, **kw) for c in element.clauses)
    return f"json_build_array({key}, {value})"


@compiles(_RowPair, "sqlite")
def _row_pair_sqlite(element: _RowPair, compiler: Any, **kw: Any) -> str:
    key, value = (compiler.process(c, **kw) for c in element.clauses)
    as_json = isinstance(list(element.clauses)[1].type, RowBoundJSON)
    return f"json_array({key}, json({value}))" if as_json else f"json_array({key}, {value})"


class RowBound:
    """Shared by the row-bound types: ``context`` names table and field, ``row_key`` the
    column whose value (set before insert, never changed) binds each row's values."""

    as_json = False

    def __init__(self, context: str, row_key: str, formerly_unbound: bool = False) -> None:
        super().__init__()
        self.context = context
        self.row_key = row_key
        # Values written before the column was bound to its row are bound to table and field
        # only; they still open (with that context) until ``weiquan keys rotate`` rebinds them.
        self.formerly_unbound = formerly_unbound

    def row_context(self, row_key: object) -> str:
        return f"{self.context}#{row_key}"

    def column_expression(self, column: Any) -> Any:
        return type_coerce(_RowPair(column.table.c[self.row_key], column), self)  # type: ignore[arg-type]

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Bound):
            raise RowBoundError(
                f"{self.context} is bound to its row: write it through the ORM or as Bound"
            )
        if value.context is None:
            if value.value not in EMPTY_VALUES:
                raise RowBoundError(f"{self.context}: only an empty value is written unbound")
            return value.value
        plain = json.dumps(value.value, ensure_ascii=False) if self.as_json else value.value
        return keyring_of(dialect).encrypt(plain, value.context)

    def bound(self, value: Any, row_key: object) -> Bound | None:
        """``value`` ready for a Core statement on the row whose key is ``row_key``."""
        return None if value is None else Bound(value, self.row_context(row_key))

    def open(self, stored: str, row_key: object, keyring: Keyring) -> str:
        """The plain text of a stored token read from the row whose key is ``row_key``."""
        try:
            return keyring.decrypt(stored, self.row_context(row_key))
        except UndecryptableValue as refused:
            if not self.formerly_unbound:
                raise
            try:
                return keyring.decrypt(stored, self.context)
            except UndecryptableValue:
                raise refused from None

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, str):  # the pair as JSON text (text columns)
            value = json.loads(value)
        if not (isinstance(value, list) and len(value) == 2):
            raise RowBoundError(f"{self.context}: read without its row key")
        row_key, stored = value
        if not is_token(stored):
            return stored  # clear, from before the column was encrypted
        plain = self.open(stored, row_key, keyring_of(dialect))
        return json.loads(plain) if self.as_json else plain


class RowBoundJSON(RowBound, TypeDecorator[Any]):
    """A JSON value encrypted and bound to its table, field and row."""

    impl = JSON
    cache_ok = True
    as_json = True


class RowBoundText(RowBound, TypeDecorator[str]):
    """Text encrypted and bound to its table, field and row."""

    impl = Text
    cache_ok = True


def bind_to_rows(cls: type) -> None:
    """Wrap ``cls``'s row-bound values with their row's key just before each write."""
    found: list[tuple[str, RowBound, bool]] = []

    def row_bound() -> list[tuple[str, RowBound, bool]]:
        if not found:  # after the mappers are configured, which the first event implies
            mapper: Mapper[Any] = cls.__mapper__  # type: ignore[attr-defined]
            found.extend(
                (prop.key, col.type, bool(col.nullable))
                for prop in mapper.column_attrs
                for col in prop.columns
                if isinstance(col.type, RowBound)
            )
        return found

    def seal(_mapper: Any, _connection: Any, target: Any) -> None:
        state = target._sa_instance_state
        for key, kind, nullable in row_bound():
            value = state.dict.get(key)
            if value is None and key not in state.dict and not nullable and state.key is None:
                value = {} if kind.as_json else ""  # a new row's default, sealed like any value
            if value is not None and not isinstance(value, Bound):
                if state.dict.get(kind.row_key) is None:
                    if state.key is None and value in EMPTY_VALUES:
                        state.dict[key] = Bound(value, None)  # a new row, key not yet assigned
                        continue
                    raise RowBoundError(f"{cls.__name__}.{kind.row_key} must be set to write")
                state.dict[key] = Bound(value, kind.row_context(state.dict[kind.row_key]))

    def unseal(_mapper: Any, _connection: Any, target: Any) -> None:
        state = target._sa_instance_state
        for key, _kind, _nullable in row_bound():
            value = state.dict.get(key)
            if isinstance(value, Bound):
                state.dict[key] = value.value

    for name in ("before_insert", "before_update"):
        event.listen(cls, name, seal)
    for name in ("after_insert", "after_update"):
        event.listen(cls, name, unseal)


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
