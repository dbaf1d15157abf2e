"""Personal data at rest: AES-GCM values, the key file, the column types."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag

from bot.crypto import FieldCipher, cipher_for, key_file_key, mask, new_key_text, parse_key


def test_round_trip_and_fresh_nonces() -> None:
    cipher = FieldCipher(parse_key(new_key_text()))
    a, b = cipher.encrypt("13512345678"), cipher.encrypt("13512345678")
    assert a != b and a.startswith("v1:") and "1351234" not in a
    assert cipher.decrypt(a) == "13512345678"


def test_wrong_key_and_tampering_refused() -> None:
    token = FieldCipher(parse_key(new_key_text())).encrypt("赵六")
    with pytest.raises(InvalidTag):
        FieldCipher(parse_key(new_key_text())).decrypt(token)


def test_default_key_file_is_private_and_stable(tmp_path: Path) -> None:
    first = key_file_key(tmp_path / "var")
    mode = stat.S_IMODE((tmp_path / "var" / "pii.key").stat().st_mode)
    assert mode == 0o600
    assert key_file_key(tmp_path / "var") == first
    token = cipher_for(None, tmp_path / "var").encrypt("x")
    assert cipher_for(None, tmp_path / "var").decrypt(token) == "x"


def test_bad_configured_key_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        cipher_for("c2hvcnQ", tmp_path)


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
