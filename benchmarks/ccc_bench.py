"""CCC registry benchmark: import 1,000,000 rows, then lookups/s and p99 on SQLite and PG.

Targets (issue 4): import of 1,000,000 certificates < 60 s on SQLite; lookup p99 < 5 ms.
Usage: .venv/bin/python benchmarks/ccc_bench.py [--rows N] [--lookups N] [--no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import platform
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.db.engine import make_engine
from bot.db.migrate import upgrade
from integrations.ccc import importer
from integrations.ccc.reader import COLUMNS
from integrations.ccc.registry import EmbeddedRegistry

PG_ADMIN = os.environ.get(
    "WEIQUAN_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
CATEGORIES = ("0101", "0201", "0701", "0702", "0901", "0907", "0914", "0915", "1606", "2202")
STATUSES = ("有效", "有效", "有效", "暂停", "撤销", "注销", "过期")


def number(i: int) -> str:
    """The i-th benchmark certificate number: unique for i < 10**7."""
    return f"{2015 + i % 10}01{CATEGORIES[i % len(CATEGORIES)]}{i // 10 % 10**6:06d}"


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(COLUMNS)
        for i in range(rows):
            no = number(i)
            year = int(no[:4])
            out.writerow(
                (
                    no,
                    f"深圳市第{i % 997}电子有限公司",
                    f"深圳市第{i % 997}电子有限公司",
                    "移动电源",
                    f"PB-{i % 5000}",
                    no[6:10],
                    STATUSES[i % len(STATUSES)],
                    f"{year}-03-01",
                    f"{year + 5}-02-28",
                )
            )


async def lookups(url: str, rows: int, count: int, concurrency: int) -> dict[str, float]:
    registry, engine = EmbeddedRegistry.for_reading(url)
    rng = random.Random(7)
    # 80 % hits, 20 % misses (a serial no row has), like real traffic with typos.
    wanted = [
        number(rng.randrange(rows))
        if rng.random() < 0.8
        else f"2099010914{rng.randrange(10**6):06d}"
        for _ in range(count)
    ]
    for no in wanted[:200]:  # warm the pool and the page cache
        await registry.get(no)
    latencies: list[float] = []

    async def worker(items: list[str]) -> None:
        for no in items:
            t0 = time.perf_counter()
            await registry.get(no)
            latencies.append(time.perf_counter() - t0)

    started = time.perf_counter()
    await asyncio.gather(*(worker(wanted[k::concurrency]) for k in range(concurrency)))
    elapsed = time.perf_counter() - started
    await engine.dispose()
    latencies.sort()
    return {
        "lookups_per_s": count / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


async def run_backend(name: str, url: str, csv_path: Path, rows: int, n: int) -> list[str]:
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url)
    t0 = time.perf_counter()
    report = await importer.import_file(engine, csv_path, current_year=2026)
    import_s = time.perf_counter() - t0
    await engine.dispose()
    if report.imported != rows or report.errors:
        raise SystemExit(f"import incomplete: {report.errors[:3]}")
    lines = [
        f"| {name} | import {rows:,} rows | {import_s:.1f} s ({rows / import_s:,.0f} rows/s) |"
    ]
    for concurrency in (1, 8):
        r = await lookups(url, rows, n, concurrency)
        lines.append(
            f"| {name} | lookups, {concurrency} concurrent | {r['lookups_per_s']:,.0f}/s, "
            f"p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms |"
        )
    for line in lines:
        print(line, flush=True)
    return lines


async def admin(sql: str) -> None:
    import asyncpg

    u = make_url(PG_ADMIN)
    conn = await asyncpg.connect(
        host=u.host, port=u.port or 5432, user=u.username, database=u.database
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=20_000)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print("| backend | measure | result |\n|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "certs.csv"
        t0 = time.perf_counter()
        write_csv(csv_path, args.rows)
        print(
            f"(generated {args.rows:,} rows, {csv_path.stat().st_size / 1e6:.0f} MB, in {time.perf_counter() - t0:.1f} s)"
        )
        await run_backend(
            "SQLite",
            f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}",
            csv_path,
            args.rows,
            args.lookups,
        )
        if not args.no_postgres:
            db = f"weiquan_bench_{uuid.uuid4().hex[:8]}"
            await admin(f'CREATE DATABASE "{db}"')
            try:
                url = make_url(PG_ADMIN).set(database=db).render_as_string(hide_password=False)
                await run_backend("PostgreSQL", url, csv_path, args.rows, args.lookups)
            finally:
                await admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


if __name__ == "__main__":
    asyncio.run(main())
