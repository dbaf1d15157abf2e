"""Engine and session factory; SQLite gets WAL and a busy timeout, PostgreSQL a pool, and
every engine the personal-data keyring its encrypted columns use (bot/crypto.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bot.crypto import Keyring, keyring_from_settings, use_keyring
from bot.settings import Settings


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Serialise writers through BEGIN IMMEDIATE (see begin_write) and let readers run beside.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def sqlite_on_loop(dbapi_connection: Any, _record: Any) -> None:
    """For connections used on the event loop (bot/conversations.py): a locked database
    fails at once instead of sleeping, and commits never copy the write-ahead log back into
    the database file (and sync it) there; the store checkpoints in a thread."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=0")
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


# Execution option for sessions that only read: on SQLite they must not take the write lock.
READ_ONLY = "weiquan_read_only"
# Execution option for SQLite writes whose commit must survive a power cut, not only a crash
# (a case number shown to a user): the write-ahead log is synced at that commit.
DURABLE = "weiquan_durable"


def sqlite_begin(conn: Any) -> None:
    # Take the write lock at the start so two workers never deadlock upgrading read locks;
    # sessions that only read take a plain (deferred) snapshot and leave writers alone.
    options = conn.get_execution_options()
    if options.get(READ_ONLY):
        conn.exec_driver_sql("BEGIN")
        return
    # The safety level can only change outside a transaction, so it is set for each one.
    conn.exec_driver_sql("PRAGMA synchronous=" + ("FULL" if options.get(DURABLE) else "NORMAL"))
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, *, keyring: Keyring | None = None, **kwargs: Any) -> AsyncEngine:
    """An engine on ``url``; without ``keyring`` it refuses to write or read personal data."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine.sync_engine, "connect", sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", sqlite_begin)
    else:
        fields = Settings.model_fields  # the defaults of WEIQUAN_DATABASE_POOL_SIZE / _OVERFLOW
        kwargs.setdefault("pool_size", fields["database_pool_size"].default)
        kwargs.setdefault("max_overflow", fields["database_max_overflow"].default)
        # No ping before each use: it cost three round trips (BEGIN, a statement, ROLLBACK)
        # per checkout, twice a turn. A connection the server dropped (a restart) fails its
        # next statement instead; that request answers 503 and is retried
        # (bot/web/errors.unreachable), and the pool then replaces every older connection.
        kwargs.setdefault("pool_pre_ping", False)
        engine = create_async_engine(url, **kwargs)
    if keyring is not None:
        use_keyring(engine, keyring)
    return engine


def engine_from_settings(settings: Settings, keyring: Keyring | None = None) -> AsyncEngine:
    """The engine of the configured database, with ``keyring`` (by default the settings')."""
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.resolved_database_url
    pool: dict[str, Any] = (
        {}
        if settings.is_sqlite
        else {
            "pool_size": settings.database_pool_size,
            "max_overflow": settings.database_max_overflow,
        }
    )
    return make_engine(url, keyring=keyring or keyring_from_settings(settings), **pool)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def read_only(sessions: async_sessionmaker[AsyncSession]) -> async_sessionmaker[AsyncSession]:
    """Sessions on the same engine that only read (no SQLite write lock; a snapshot)."""
    engine: AsyncEngine = sessions.kw["bind"]
    return async_sessionmaker(engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)
