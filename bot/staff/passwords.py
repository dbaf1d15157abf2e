"""Argon2id password hashing; unknown users cost the same time as wrong passwords."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 10


class WeakPassword(ValueError):
    """Too short to resist guessing (the console is internet-facing)."""


@cache
def hasher() -> PasswordHasher:
    return PasswordHasher()


@cache
def _dummy_hash() -> str:
    return hasher().hash("timing-equaliser-password")


def hash_password(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_LENGTH} characters")
    return hasher().hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """True when ``password`` matches; with ``stored`` None a dummy hash is checked."""
    try:
        return hasher().verify(stored or _dummy_hash(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return hasher().check_needs_rehash(stored)
