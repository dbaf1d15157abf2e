"""Uploads that never reach a case are deleted: the rows after ``evidence_orphan_hours``, and
the stored files no row refers to any more.

Safe with several instances: deleting the same rows twice deletes nothing the second time, a
case that takes a photo at the same moment wins (the delete re-checks ``case_id IS NULL``),
and a file is removed only when it has not been written or sent again for the same time
(``EvidenceStore`` refreshes a file's time when the same photo arrives again), so a photo
being stored right now is never pulled from under its new row. Each instance sweeps the
evidence directory it sees, shared or its own.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.engine import read_only
from bot.db.models import Evidence
from bot.evidence import EvidenceStore

log = logging.getLogger(__name__)
# The first sweep waits a few minutes after start (instances restarting together do not sweep
# together), then one an hour.
FIRST_SWEEP_SECONDS = (300.0, 600.0)
SWEEP_SECONDS = 3600.0
HEX = frozenset("0123456789abcdef")
BATCH = 500


@dataclass(frozen=True)
class Swept:
    rows: int
    files: int


ASIDE = ".sweep-"
# A file moved aside this long ago was left there by a sweep that died (a rename sets ctime).
ASIDE_STALE_SECONDS = 600.0


def _aged_files(root: Path, cutoff: float) -> list[tuple[str, Path]]:
    """(sha256, path) of stored files older than ``cutoff``; "" for a left-over temporary."""
    found: list[tuple[str, Path]] = []
    stale_aside = time.time() - ASIDE_STALE_SECONDS
    for path in root.glob("??/??/*"):
        aside = path.name.startswith(ASIDE)
        try:
            info = path.stat()
        except FileNotFoundError:
            continue
        if (info.st_ctime >= stale_aside) if aside else (info.st_mtime >= cutoff):
            continue
        name = path.name.removeprefix(ASIDE)
        if name.startswith(".tmp-"):
            found.append(("", path))
        elif len(name) == 64 and set(name) <= HEX:
            found.append((name, path))
    return found


def _remove(path: Path, cutoff: float, referenced: bool) -> bool:
    """Delete an unreferenced stored file unless it was written or sent again since the look.

    It is moved aside first and its time read again, so an upload that refreshes it at this
    moment either did so before (the file stays) or finds it gone and writes it afresh. A file
    a dead sweep left aside goes back when a row refers to it.
    """
    try:
        if path.name.startswith(ASIDE):
            target = path.with_name(path.name.removeprefix(ASIDE))
            if referenced and not target.exists():
                os.replace(path, target)
                return False
            path.unlink()
            return not referenced
        if referenced:
            return False
        aside = path.with_name(ASIDE + path.name)
        os.replace(path, aside)
        if aside.stat().st_mtime >= cutoff:
            os.replace(aside, path)
            return False
        aside.unlink()
    except FileNotFoundError:
        return False  # another instance's sweep got there first
    return True


async def sweep_orphan_evidence(
    sessions: async_sessionmaker[AsyncSession],
    store: EvidenceStore,
    *,
    now: datetime,
    older_than: timedelta,
) -> Swept:
    """Delete evidence rows with no case older than ``older_than``, then unreferenced files."""
    cutoff = now - older_than
    orphaned = (Evidence.case_id.is_(None), Evidence.created_at < cutoff)
    rows = 0
    # Look before locking: on SQLite a delete takes the database's only write lock.
    async with read_only(sessions)() as session:
        found = (await session.execute(select(Evidence.id).where(*orphaned).limit(1))).first()
    if found is not None:
        async with sessions() as session, session.begin():
            result = await session.execute(delete(Evidence).where(*orphaned))
            rows = int(getattr(result, "rowcount", 0) or 0)
    aged = await asyncio.to_thread(_aged_files, store.root, cutoff.timestamp())
    files = 0
    for start in range(0, len(aged), BATCH):
        batch = aged[start : start + BATCH]
        names = [sha for sha, _ in batch if sha]
        async with read_only(sessions)() as session:
            kept = set(
                (
                    await session.execute(
                        select(Evidence.sha256).where(Evidence.sha256.in_(names)).distinct()
                    )
                ).scalars()
            )
        for sha, path in batch:
            if await asyncio.to_thread(_remove, path, cutoff.timestamp(), sha in kept):
                files += 1
    if rows or files:
        log.info("evidence housekeeping: %s orphan rows, %s files deleted", rows, files)
    return Swept(rows, files)


async def housekeeping_loop(
    sessions: async_sessionmaker[AsyncSession],
    store: EvidenceStore,
    *,
    orphan_hours: float,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> None:
    """Sweep orphan uploads a few minutes after start, then hourly, until cancelled."""
    await asyncio.sleep(random.uniform(*FIRST_SWEEP_SECONDS))  # noqa: S311
    while True:
        started = time.monotonic()
        try:
            await sweep_orphan_evidence(
                sessions, store, now=clock(), older_than=timedelta(hours=orphan_hours)
            )
        except Exception:
            log.exception("evidence housekeeping failed")
        await asyncio.sleep(max(60.0, SWEEP_SECONDS - (time.monotonic() - started)))
