"""The access token, cached in the database so every worker and the CLI share one.

WeChat hands out a new token on every fetch and retires the previous one a few minutes
later, so workers that each fetched their own would keep knocking each other out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from integrations.wechat.models import WechatAccessToken

# Fetches a fresh token from WeChat: (token, seconds until it expires).
Fetch = Callable[[], Awaitable[tuple[str, int]]]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class TokenCache:
    """Reads the shared row; refreshes it under a row lock (PostgreSQL) or the single
    SQLite writer, re-checking after the lock so only one worker fetches."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        app_id: str,
        fetch: Fetch,
        *,
        margin_seconds: int = 300,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sessions = sessions
        self.app_id = app_id
        self.fetch = fetch
        self.margin = timedelta(seconds=margin_seconds)
        self.clock = clock
        self._memo: tuple[str, datetime] | None = None
        self._lock = asyncio.Lock()

    def _fresh(self, expires_at: datetime) -> bool:
        return expires_at - self.margin > self.clock()

    async def get(self) -> str:
        if self._memo and self._fresh(self._memo[1]):
            return self._memo[0]
        async with self.sessions() as session:
            row = await session.get(WechatAccessToken, self.app_id)
            if row is not None and row.access_token and self._fresh(row.expires_at):
                self._memo = (row.access_token, row.expires_at)
                return row.access_token
        # Only what this caller saw is known stale; a token stored meanwhile is good.
        return await self.refresh(stale=row.access_token if row is not None else None)

    async def refresh(self, stale: str | None = None) -> str:
        """A new token unless another worker already replaced ``stale`` with a fresh one."""
        async with self._lock, self.sessions() as session, session.begin():
            dialect = session.bind.dialect.name if session.bind else "sqlite"
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            now = self.clock()
            await session.execute(
                insert(WechatAccessToken)
                .values(app_id=self.app_id, access_token="", expires_at=EPOCH, updated_at=now)
                .on_conflict_do_nothing(index_elements=["app_id"])
            )
            stmt = select(WechatAccessToken).where(WechatAccessToken.app_id == self.app_id)
            if dialect == "postgresql":
                stmt = stmt.with_for_update()
            row = (
                await session.execute(stmt.execution_options(populate_existing=True))
            ).scalar_one()
            if row.access_token and row.access_token != stale and self._fresh(row.expires_at):
                self._memo = (row.access_token, row.expires_at)
                return row.access_token
            token, expires_in = await self.fetch()
            row.access_token = token
            row.expires_at = self.clock() + timedelta(seconds=expires_in)
            row.updated_at = self.clock()
            self._memo = (token, row.expires_at)
            return token

    async def invalidate(self, token: str) -> None:
        """WeChat rejected ``token``: retire it, unless someone has replaced it already."""
        self._memo = None
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(WechatAccessToken)
                .where(
                    WechatAccessToken.app_id == self.app_id, WechatAccessToken.access_token == token
                )
                .values(expires_at=EPOCH, updated_at=self.clock())
            )
