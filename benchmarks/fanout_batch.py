"""How long one batch of an alert fan-out holds the database: SQLite's write lock is held
for the whole batch transaction, so a chat turn on the same database waits that long at most.

Seeds RECIPIENTS subscribers (a third each on WeChat, Telegram and the web chat) in a fresh
SQLite file, publishes an alert and fans it out in batches of BATCH, timing each batch's
transaction. Nothing is delivered (no outbox running): this is the queueing side only.

Usage: .venv/bin/python benchmarks/fanout_batch.py [--recipients 10000] [--batch 500]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import alerts  # noqa: E402
from bot.app import create_app  # noqa: E402
from bot.settings import NluSettings, Settings  # noqa: E402
from tests.bot.test_alerts import ALERT, seed_subscribers  # noqa: E402


async def run(recipients: int, batch: int) -> list[float]:
    now = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            environment="test",
            data_dir=Path(tmp) / "var",
            database_url=f"sqlite+aiosqlite:///{tmp}/fanout.db",
            nlu=NluSettings(manage=False),
        )
        app = create_app(settings, migrate=True)
        async with app.router.lifespan_context(app):
            sessions = app.state.sessions
            async with sessions() as session, session.begin():
                await seed_subscribers(session, recipients, now, ("wechat", "telegram", "rest"))
                row = alerts.publish(
                    session,
                    alerts.Draft(**{**ALERT, "brands": "", "cert_nos": ""}),
                    by="bench",
                    now=now,
                )
                await session.flush()
                alert_id = row.id

            seconds: list[float] = []
            mark = [0.0]

            def timed(done: alerts.FanOut) -> None:
                seconds.append(time.perf_counter() - mark[0])
                mark[0] = time.perf_counter()

            real_send = alerts._send_batch

            def send_batch(*args: object) -> int:
                mark[0] = time.perf_counter()  # from inside the transaction's first statement
                return real_send(*args)  # type: ignore[arg-type]

            alerts._send_batch = send_batch  # type: ignore[assignment]
            try:
                done = await alerts.fan_out(
                    sessions, alert_id, now=lambda: now, batch=batch, after_batch=timed
                )
            finally:
                alerts._send_batch = real_send  # type: ignore[assignment]
            if done.queued != recipients:
                raise SystemExit(f"queued {done.queued} of {recipients}")
            return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=alerts.BATCH)
    args = parser.parse_args()
    seconds = asyncio.run(run(args.recipients, args.batch))
    ms = sorted(s * 1000 for s in seconds)
    print(
        f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}"
    )
    print(
        f"{args.recipients} recipients, batch {args.batch}: {len(ms)} batches; a batch's "
        f"transaction median {statistics.median(ms):.0f} ms, max {ms[-1]:.0f} ms "
        f"({statistics.median(ms) / args.batch:.2f} ms per recipient)"
    )


if __name__ == "__main__":
    main()
