"""Staff passwords are stored at the production Argon2 cost.

The other in-process tests hash at the lowest cost (tests/conftest.py); this one runs with the
code's own hasher, so a weaker production setting cannot hide behind the tests' one.
"""

from __future__ import annotations

import argon2
import pytest

from bot.staff.passwords import hash_password, needs_rehash, verify_password

PASSWORD = "correct horse battery"

pytestmark = pytest.mark.argon2_production_cost


def test_a_stored_password_costs_rfc_9106s_low_memory_profile() -> None:
    stored = hash_password(PASSWORD)
    assert argon2.extract_parameters(stored) == argon2.profiles.RFC_9106_LOW_MEMORY
    assert PASSWORD not in stored
    assert verify_password(stored, PASSWORD)
    assert not verify_password(stored, "wrong horse battery")
    assert not verify_password(None, PASSWORD)
    assert not needs_rehash(stored)


def test_a_cheaper_stored_hash_is_rehashed_at_the_production_cost() -> None:
    cheap = argon2.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
    assert verify_password(cheap, PASSWORD)
    assert needs_rehash(cheap)
