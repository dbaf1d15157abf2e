"""Argon2id password hashing; unknown users cost the same time as wrong passwords."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
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


def hash_report_password(password: str) -> str:
    """An anonymous reporter's 举报密码, hashed like a staff password as the form takes it.

    Its length rule is the report form's (the reporter is not an internet-facing login)."""
    return hasher().hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """True when ``password`` matches; with ``stored`` None a dummy hash is checked."""
    try:
        return hasher().verify(stored or _dummy_hash(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return hasher().check_needs_rehash(stored)


# Argon2 takes tens of milliseconds of CPU and 64 MiB per hash: a few threads of its own keep
# the event loop serving and bound the memory a burst of logins can take.
HASH_THREADS = min(4, os.cpu_count() or 1)


@cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=HASH_THREADS, thread_name_prefix="argon2")


async def verify_password_off_loop(stored: str | None, password: str) -> bool:
    """``verify_password`` in the hashing threads, so the event loop never waits on Argon2."""
    return await asyncio.get_running_loop().run_in_executor(
        _pool(), verify_password, stored, password
    )


async def hash_password_off_loop(password: str) -> str:
    """``hash_password`` in the hashing threads (raises ``WeakPassword`` the same way)."""
    return await asyncio.get_running_loop().run_in_executor(_pool(), hash_password, password)
