"""Refusing replayed callbacks across every worker: seen (timestamp, nonce) pairs in the database.

A plain-mode signature covers only the token, timestamp and nonce, so a captured one could
carry any body while its timestamp is fresh. Each pair is therefore bound to the first message
it carried. WeChat retries a slow delivery with the same pair and the same message: those pass
(a few times) and the pipeline's dedup answers them with the reply already produced.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from integrations.wechat.envelope import Opened, Replayed
from integrations.wechat.models import WechatNonce

# WeChat delivers a message at most four times (the first try and three retries).
MAX_DELIVERIES = 4


class ReplayGuard:
    """Admits a callback once per (timestamp, nonce), plus WeChat's retries of that message."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        window_seconds: int,
        max_deliveries: int = MAX_DELIVERIES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sessions = sessions
        self.window = window_seconds
        self.max_deliveries = max_deliveries
        self.clock = clock
        self._next_purge = 0.0

    async def admit(self, opened: Opened) -> None:
        """Record this delivery, or raise ``Replayed`` when the pair carried something else."""
        now = self.clock()
        stamp = int(opened.timestamp)
        digest = opened.digest
        async with self.sessions() as session, session.begin():
            dialect = session.bind.dialect.name if session.bind else "sqlite"
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            first = await session.execute(
                insert(WechatNonce)
                .values(
                    timestamp=stamp,
                    nonce=opened.nonce,
                    digest=digest,
                    deliveries=1,
                    seen_at=datetime.fromtimestamp(now, UTC),
                )
                .on_conflict_do_nothing(index_elements=["timestamp", "nonce"])
            )
            if first.rowcount != 1:  # type: ignore[attr-defined]
                again = await session.execute(
                    update(WechatNonce)
                    .where(
                        WechatNonce.timestamp == stamp,
                        WechatNonce.nonce == opened.nonce,
                        WechatNonce.digest == digest,
                        WechatNonce.deliveries < self.max_deliveries,
                    )
                    .values(deliveries=WechatNonce.deliveries + 1)
                )
                if again.rowcount != 1:  # type: ignore[attr-defined]
                    raise Replayed("this timestamp and nonce were already used")
            if now >= self._next_purge:
                self._next_purge = now + self.window
                await self._purge(session, now)

    async def _purge(self, session: AsyncSession, now: float) -> None:
        """Pairs older than twice the window can never be fresh again: forget them."""
        horizon = datetime.fromtimestamp(now, UTC) - timedelta(seconds=2 * self.window)
        await session.execute(delete(WechatNonce).where(WechatNonce.seen_at < horizon))
