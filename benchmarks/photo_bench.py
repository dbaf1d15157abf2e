"""Photo check on the labelled set: read rates, verdict agreement, seconds per photo.

    .venv/bin/python benchmarks/photo_bench.py                 # all of tests/data/labels
    .venv/bin/python benchmarks/photo_bench.py --limit 20      # the first 20
    .venv/bin/python benchmarks/photo_bench.py --workers 2
    .venv/bin/python benchmarks/photo_bench.py --loop-lag 8     # process pool vs a thread
    .venv/bin/python benchmarks/photo_bench.py --steps 4        # CPU per step, every 4th photo

Imports `tests/data/labels/registry.csv` into a fresh SQLite registry with the real importer,
reads every photo through the real `OcrPool` (worker processes, as the app does) one at a
time, checks the reading with `bot.photocheck.verdict.check` on the set's date, and compares
with each photo's JSON truth. A reading the check wants confirmed is confirmed the way a user
would (the printed value, correcting a misread) and checked again; both figures are shown.
Prints a Markdown section for RESULTS.md and every miss.

`--loop-lag N` instead reads N photos back to back, once through the pool (worker process)
and once with the same recognition in a thread of the app's process, while a task on the
event loop asks for 10 ms sleeps: how late those wake up is what every chat message being
handled at the same time would wait for on top of its own work.

`--steps N` instead reads every Nth photo in this process with the worker's engine and
options (`bot.photocheck.worker`), and prints the CPU seconds (all threads) each step took:
decode, QR codes, text detection, cropping, the angle classifier, recognition.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.db.engine import make_engine  # noqa: E402
from bot.photocheck.errors import ReadTimeout  # noqa: E402
from bot.photocheck.matching import normalise_company, normalise_model  # noqa: E402
from bot.photocheck.pool import OcrPool  # noqa: E402
from bot.photocheck.types import (  # noqa: E402
    CCC_NUMBER,
    HOLDER,
    MANUFACTURER,
    MODEL,
    Outcome,
    Reading,
)
from bot.photocheck.verdict import check  # noqa: E402
from integrations.ccc import importer  # noqa: E402
from integrations.ccc.models import CccCertificate  # noqa: E402
from integrations.ccc.registry import EmbeddedRegistry  # noqa: E402

LABELS = ROOT / "tests" / "data" / "labels"


def worker_cpu(pool: OcrPool) -> float:
    """CPU seconds the pool's (single) worker process has used, from /proc."""
    pid = pool._workers[0].pid
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def confirm_as_user(reading: Reading, truth: dict[str, Any], asked: tuple[Any, ...]) -> Reading:
    """The user confirms each value asked about, correcting it to what is printed."""
    printed = {CCC_NUMBER: truth.get("cert_no") or truth.get("qr_cert_no"), MODEL: truth.get("model"),
               HOLDER: truth.get("holder"), MANUFACTURER: truth.get("manufacturer")}  # fmt: skip
    for field in asked:
        reading = reading.confirmed(field.name, printed.get(field.name) or field.value)
    return reading


def read_ok(
    reading: Reading, name: str, expected: str | None, norm: Any = str.strip
) -> bool | None:
    if not expected:
        return None
    best = reading.best(name)
    return best is not None and norm(best.value) == norm(expected)


async def _lag_while(work: Any) -> tuple[list[float], float]:
    """Lateness (ms) of 10 ms sleeps on the loop while ``work`` runs; and its seconds."""
    lags: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            t = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append((time.perf_counter() - t - 0.01) * 1000)

    tick = asyncio.create_task(ticker())
    started = time.perf_counter()
    await work
    elapsed = time.perf_counter() - started
    done.set()
    await tick
    return lags, elapsed


async def loop_lag(count: int) -> int:
    from bot.photocheck.worker import prepare, recognise

    photos = [p.read_bytes() for p in sorted(LABELS.glob("*.jpg"))[:count]]
    pool = OcrPool(workers=1, queue=count, timeout=120)
    await pool.read(photos[0])
    await asyncio.to_thread(prepare)

    async def through_pool() -> None:
        for data in photos:
            await pool.read(data)

    async def in_thread() -> None:
        for data in photos:
            await asyncio.to_thread(recognise, data)

    idle, _ = await _lag_while(asyncio.sleep(3))
    process, p_secs = await _lag_while(through_pool())
    thread, t_secs = await _lag_while(in_thread())
    await pool.close()
    print(f"Load average {os.getloadavg()[0]:.1f}; {count} photos each way.\n")
    print(
        "| photos read | s per photo | loop lag p50 ms | p99 ms | max ms |\n|---|---|---|---|---|"
    )
    for name, lags, secs in (("none (idle)", idle, 0.0), ("worker process (OcrPool)", process, p_secs),
                             ("thread in the app's process", thread, t_secs)):  # fmt: skip
        per = f"{secs / count:.2f}" if secs else "-"
        print(
            f"| {name} | {per} | {statistics.median(lags):.1f} | {percentile(lags, 0.99):.1f} | {max(lags):.1f} |"
        )
    return 0


def steps(every: int) -> int:
    import numpy as np
    import zxingcpp

    from bot.photocheck import worker

    eng = worker.engine()
    files = sorted(LABELS.glob("*.jpg"))[::every]
    names = ("decode", "QR codes (zxing-cpp)", "text detection", "crop lines",
             "angle classifier", "recognition", "total")  # fmt: skip
    spent: dict[str, list[float]] = {name: [] for name in names}
    worker.recognise(files[0].read_bytes())  # the first run of each model allocates: not counted
    load = os.getloadavg()[0]
    for path in files:
        data = path.read_bytes()
        marks = [time.process_time()]
        image = worker.decode(data)
        marks.append(time.process_time())
        zxingcpp.read_barcodes(image)
        marks.append(time.process_time())
        bgr, _, _ = eng.preprocess(np.ascontiguousarray(np.asarray(image)[:, :, ::-1]))
        bgr, _ = eng.maybe_add_letterbox(bgr, {})
        boxes, _ = eng.auto_text_det(bgr)
        marks.append(time.process_time())
        crops = eng.get_crop_img_list(bgr, boxes) if boxes is not None else []
        marks.append(time.process_time())
        if crops and eng.use_cls:
            crops, _, _ = eng.text_cls(crops)
        marks.append(time.process_time())
        if crops:
            eng.text_rec(crops)
        marks.append(time.process_time())
        for name, before, after in zip(names, marks, marks[1:], strict=False):
            spent[name].append(after - before)
        spent["total"].append(marks[-1] - marks[0])
    print(f"{len(files)} photos (every {every}th), threads {worker.THREADS}, options "
          f"{worker.OPTIONS}; load average {load:.1f} -> {os.getloadavg()[0]:.1f}\n")  # fmt: skip
    print("| step | CPU s per photo, mean | p50 | max |\n|---|---:|---:|---:|")
    for name, values in spent.items():
        print(f"| {name} | {statistics.mean(values):.3f} | {statistics.median(values):.3f} "
              f"| {max(values):.3f} |")  # fmt: skip
    return 0


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--loop-lag", type=int, default=0, metavar="N")
    parser.add_argument("--steps", type=int, default=0, metavar="N")
    args = parser.parse_args()
    if args.steps:
        return steps(args.steps)
    if args.loop_lag:
        return await loop_lag(args.loop_lag)

    truths = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(LABELS.glob("*.json"))]
    if args.limit:
        truths = truths[: args.limit]
    tmp = tempfile.TemporaryDirectory()
    engine = make_engine(f"sqlite+aiosqlite:///{tmp.name}/registry.db")
    async with engine.begin() as conn:
        await conn.run_sync(
            lambda c: CccCertificate.metadata.create_all(c, [CccCertificate.__table__])
        )
    report = await importer.import_file(engine, LABELS / "registry.csv", current_year=2026)
    registry = EmbeddedRegistry(engine)
    pool = OcrPool(workers=args.workers, queue=len(truths), timeout=args.timeout)
    load_before = os.getloadavg()
    started = time.perf_counter()
    await pool.read((LABELS / truths[0]["file"]).read_bytes())  # start the worker, load models
    warmup = time.perf_counter() - started

    rows: list[dict[str, Any]] = []
    timed_out: list[str] = []
    for truth in truths:
        data = (LABELS / truth["file"]).read_bytes()
        t0, cpu0 = time.perf_counter(), worker_cpu(pool)
        try:
            reading = await pool.read(data)
        except ReadTimeout:
            timed_out.append(truth["file"])
            continue
        wall, cpu = time.perf_counter() - t0, worker_cpu(pool) - cpu0
        today = date.fromisoformat(truth["today"])
        verdict = await check(reading, registry, today=lambda d=today: d)
        first = verdict.outcome
        final = verdict
        if verdict.outcome is Outcome.NEEDS_CONFIRMATION:
            sure = confirm_as_user(reading, truth, verdict.to_confirm)
            final = await check(sure, registry, today=lambda d=today: d)
        numbers = {f.value for f in reading.all(CCC_NUMBER)}
        cert = truth.get("cert_no") or truth.get("qr_cert_no")
        rows.append({
            "file": truth["file"],
            "wall": wall,
            "worker": reading.seconds,
            "cpu": cpu,
            "cert": None if not cert else cert in numbers,
            "cert_best": None if not cert else (reading.best(CCC_NUMBER) or _none).value == cert,
            "model": read_ok(reading, MODEL, truth.get("model"), normalise_model),
            "holder": read_ok(reading, HOLDER, truth.get("holder"), normalise_company),
            "manufacturer": read_ok(reading, MANUFACTURER, truth.get("manufacturer"), normalise_company),
            "expected": truth["expected"],
            "first": first.value,
            "final": final.outcome.value,
            "listing_ok": None if truth.get("expected_listing") is None else (
                final.listing is not None and final.listing.verdict.value == truth["expected_listing"]),
            "asked": [f.name for f in verdict.to_confirm],
            "degradations": truth.get("degradations", []),
            "layout": truth["layout"],
            "read": {f.name: f.value for f in reversed(reading.fields)},
        })  # fmt: skip
    load_after = os.getloadavg()
    await pool.close()
    await engine.dispose()

    def rate(key: str, subset: list[dict[str, Any]] | None = None) -> str:
        vals = [r[key] for r in (subset or rows) if r[key] is not None]
        return f"{sum(vals)}/{len(vals)} ({100 * sum(vals) / max(1, len(vals)):.1f} %)"

    direct = sum(r["first"] == r["expected"] for r in rows)
    final = sum(r["final"] == r["expected"] for r in rows)
    asked = sum(bool(r["asked"]) for r in rows)
    walls = [r["wall"] for r in rows]
    workers = [r["worker"] for r in rows]
    cpus = [r["cpu"] for r in rows]
    now = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"### {now}: {len(rows)} photos, {args.workers} worker(s), {os.cpu_count()} cores")
    print(
        f"\nLoad average before {load_before[0]:.1f}, after {load_after[0]:.1f} (other jobs on the machine)."
    )
    print(
        f"Registry: {report.imported} certificates imported from registry.csv. First photo (start the"
    )
    print(f"worker, load the models): {warmup:.1f} s.\n")
    print("| figure | result |\n|---|---|")
    print(
        f"| photos past the {args.timeout:g} s limit (left out below) | {len(timed_out)} {timed_out or ''} |"
    )
    print(f"| certificate number read exactly (any field) | {rate('cert')} |")
    print(f"| certificate number read exactly (the best one) | {rate('cert_best')} |")
    print(f"| model read | {rate('model')} |")
    print(f"| holder read | {rate('holder')} |")
    print(f"| manufacturer read | {rate('manufacturer')} |")
    print(
        f"| verdict agrees, as first given | {direct}/{len(rows)} ({100 * direct / len(rows):.1f} %) |"
    )
    print(f"| photos with a confirmation question | {asked}/{len(rows)} |")
    print(
        f"| verdict agrees after the user confirms | {final}/{len(rows)} ({100 * final / len(rows):.1f} %) |"
    )
    print(f"| listing verdict agrees (screenshots) | {rate('listing_ok')} |")
    print(
        f"| seconds per photo, p50 / p95 / max (through the pool) | {statistics.median(walls):.2f} / {percentile(walls, 0.95):.2f} / {max(walls):.2f} |"
    )
    print(
        f"| seconds per photo in the worker, p50 / p95 | {statistics.median(workers):.2f} / {percentile(workers, 0.95):.2f} |"
    )
    print(
        f"| CPU seconds per photo in the worker (all its threads), p50 / p95 | {statistics.median(cpus):.2f} / {percentile(cpus, 0.95):.2f} |"
    )
    for deg in ("rotate", "blur", "jpeg", "perspective", "lowlight", "real-world", "sideways"):
        subset = [r for r in rows if deg in r["degradations"]]
        if subset:
            print(f"| number read, {deg} ({len(subset)} photos) | {rate('cert', subset)} |")
    print("\nMisses:")
    for r in rows:
        misses = [k for k in ("cert", "model", "holder", "manufacturer") if r[k] is False]
        if misses or r["final"] != r["expected"] or r["listing_ok"] is False:
            print(f"- {r['file']} ({', '.join(r['degradations']) or 'clean'}): misread {misses}; "
                  f"verdict {r['first']}->{r['final']} expected {r['expected']}; read {r['read']}")  # fmt: skip
    return 0


class _None:
    value = None


_none = _None()

if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
