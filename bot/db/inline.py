"""An engine for the pipeline's SQLite transactions whose statements run on the event loop.

SQLAlchemy's aiosqlite adapter makes several round trips to aiosqlite's thread for every
statement (execute, fetch, description, close): a case submission, about a dozen
statements, made some 65 of them, each waiting behind whatever else the event loop had
queued, all while holding SQLite's only write lock (measured: 10–13 ms alone, 50–80 ms under
load, and every other turn queued behind it). A local SQLite file answers these statements in
microseconds, so this engine's connection runs them inline, on the calling thread: the
transaction holds the lock only for its own work.

It never sleeps on the loop either, nor checkpoints there: its busy timeout is zero, and a
transaction that finds the database locked by a writer outside the pipeline (a CLI import,
the back office) raises ``OperationalError`` at ``BEGIN``; the pipeline then runs that message
on the ordinary engine, which waits in aiosqlite's thread.
"""

from __future__ import annotations

import sqlite3
from functools import partial
from typing import Any

import aiosqlite
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.db.engine import sqlite_begin, sqlite_on_loop, sqlite_pragmas


class InlineConnection(aiosqlite.Connection):
    """aiosqlite's connection, with statements run by the caller instead of its thread.

    The thread still opens the connection and serves the few calls that bypass ``_execute``
    (SQLAlchemy sets the isolation level through the queue); the connection is opened with
    ``check_same_thread=False`` for that reason.
    """

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return partial(fn, *args, **kwargs)()


def inline_engine(url: str) -> AsyncEngine:
    """An AsyncEngine on the same SQLite file as ``url`` whose statements run inline."""
    path = make_url(url).database
    if not path or path == ":memory:":
        raise ValueError("an inline engine needs a SQLite file")

    async def connect() -> InlineConnection:
        def connector() -> sqlite3.Connection:
            return sqlite3.connect(path, check_same_thread=False)

        connection = InlineConnection(connector, 64)
        connection._thread.daemon = True
        await connection
        return connection

    engine = create_async_engine(url, async_creator=connect)
    event.listen(engine.sync_engine, "connect", sqlite_pragmas)
    event.listen(engine.sync_engine, "connect", sqlite_on_loop)
    event.listen(engine.sync_engine, "begin", sqlite_begin)
    return engine
