"""Personal data at rest: AES-GCM values with key ids and a place, the key file, masking."""

from __future__ import annotations

import base64
import multiprocessing
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot.crypto import (
    KeyConfigurationError,
    Keyring,
    UndecryptableValue,
    key_id,
    keyring_from_settings,
    mask,
    new_key_text,
    parse_key,
)


@dataclass
class KeySources:
    pii_key: str | None = None
    pii_key_file: Path | None = None
    pii_old_keys: str | None = None


@dataclass
class KeySettings:
    data_dir: Path
    environment: str = "development"
    security: KeySources = field(default_factory=KeySources)


def key_settings(data_dir: Path, **keys: Any) -> KeySettings:
    return KeySettings(data_dir, security=KeySources(**keys))


def ring(*keys: str) -> Keyring:
    return Keyring(parse_key(keys[0]), [parse_key(k) for k in keys[1:]])


def test_round_trip_fresh_nonces_and_key_id() -> None:
    key = new_key_text()
    keyring = ring(key)
    a, b = keyring.encrypt("13512345678", "t.f"), keyring.encrypt("13512345678", "t.f")
    assert a != b and a.startswith(f"v2:{key_id(parse_key(key))}:") and "1351234" not in a
    assert keyring.decrypt(a, "t.f") == "13512345678"


def test_a_value_moved_to_another_place_or_key_is_refused() -> None:
    keyring = ring(new_key_text())
    token = keyring.encrypt("赵六", "cases.personal#TS1")
    with pytest.raises(UndecryptableValue, match="does not belong here"):
        keyring.decrypt(token, "cases.personal#TS2")
    with pytest.raises(UndecryptableValue, match="does not belong here"):
        keyring.decrypt(token, "cases.narrative#TS1")
    with pytest.raises(UndecryptableValue, match="not configured"):
        ring(new_key_text()).decrypt(token, "cases.personal#TS1")
    for altered in (token[:-4] + "AAAA", token[:-4] + "!!!!"):  # a changed tag, not base64
        with pytest.raises(UndecryptableValue, match="or altered"):
            keyring.decrypt(altered, "cases.personal#TS1")


def test_old_keys_read_new_writes_use_the_current_key() -> None:
    old, new = new_key_text(), new_key_text()
    token = ring(old).encrypt("x", "t.f")
    both = ring(new, old)
    assert both.decrypt(token, "t.f") == "x" and not both.is_current(token)
    assert both.is_current(both.encrypt("y", "t.f"))


def test_values_from_before_key_ids_still_read() -> None:
    key = new_key_text()
    nonce = os.urandom(12)
    sealed = AESGCM(parse_key(key)).encrypt(nonce, "张三".encode(), b"v1:")
    legacy = "v1:" + base64.urlsafe_b64encode(nonce + sealed).decode()
    assert ring(new_key_text(), key).decrypt(legacy, "cases.personal#TS1") == "张三"
    with pytest.raises(UndecryptableValue):
        ring(new_key_text()).decrypt(legacy, "t.f")


def test_default_key_file_is_private_and_stable(tmp_path: Path) -> None:
    settings = KeySettings(data_dir=tmp_path / "var")
    first = keyring_from_settings(settings)
    mode = stat.S_IMODE((tmp_path / "var" / "pii.key").stat().st_mode)
    assert mode == 0o600
    token = first.encrypt("x", "t.f")
    assert keyring_from_settings(settings).decrypt(token, "t.f") == "x"


def test_processes_starting_together_share_one_whole_key_file(tmp_path: Path) -> None:
    """Two workers of a first ``weiquan serve`` on an empty data dir start at the same time:
    each finds no key file or a complete one (never an empty one being written), and both
    end with the same key. Separate processes, released together, many times over."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        for attempt in range(30):
            data_dir = tmp_path / f"var{attempt}"
            answers = pool.map(_key_id_at_start, [str(data_dir)] * 4)
            assert all(not a.startswith("error") for a in answers), answers
            assert len(set(answers)) == 1, answers
            assert [p.name for p in data_dir.iterdir()] == ["pii.key"]


def _key_id_at_start(data_dir: str) -> str:
    try:
        return keyring_from_settings(KeySettings(data_dir=Path(data_dir))).current_id
    except Exception as exc:  # what a worker would die of
        return f"error: {exc!r}"


def test_production_needs_an_explicit_key_and_creates_no_file(tmp_path: Path) -> None:
    settings = KeySettings(data_dir=tmp_path / "var", environment="production")
    with pytest.raises(KeyConfigurationError, match="WEIQUAN_PII_KEY or WEIQUAN_PII_KEY_FILE"):
        keyring_from_settings(settings)
    assert not (tmp_path / "var" / "pii.key").exists()
    key_file = tmp_path / "keys"
    new, old = new_key_text(), new_key_text()
    key_file.write_text(f"{new}\n{old}\n")
    settings.security.pii_key_file = key_file
    keyring = keyring_from_settings(settings)
    assert keyring.key_ids == [key_id(parse_key(new)), key_id(parse_key(old))]


def test_bad_configured_keys_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyConfigurationError, match="WEIQUAN_PII_KEY must be 32 bytes"):
        keyring_from_settings(key_settings(tmp_path, pii_key="c2hvcnQ"))
    settings = key_settings(tmp_path, pii_key=new_key_text(), pii_old_keys="c2hvcnQ")
    with pytest.raises(KeyConfigurationError, match="WEIQUAN_PII_OLD_KEYS"):
        keyring_from_settings(settings)
    missing = key_settings(tmp_path, pii_key_file=tmp_path / "absent")
    with pytest.raises(KeyConfigurationError, match="WEIQUAN_PII_KEY_FILE: cannot read"):
        keyring_from_settings(missing)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("13512345678", "135****5678"),
        ("赵六", "赵*"),
        ("欧阳小明", "欧***"),
        ("110101199003070011", "110*************11"),
    ],
)
def test_masking(value: str, shown: str) -> None:
    assert mask(value) == shown
