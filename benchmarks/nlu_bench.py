"""NLU benchmarks: pipeline comparison on the held-out split, and Rasa serving latency.

    .venv/bin/python benchmarks/nlu_bench.py compare [config ...]   # default: nlu/pipelines/*.yml + config.yml
    .venv/bin/python benchmarks/nlu_bench.py latency [--requests 400] [--replicas 2] [--raw]
                                                     [--config nlu/pipelines/x.yml]

``compare`` trains each pipeline (models under benchmarks/out/models, fingerprinted) and
scores it on nlu/test/ through the app's client. ``latency`` starts ``--replicas`` Rasa
processes the way the app does (nlu.replicas.RasaReplicas: one after another, TensorFlow
threads shared out) and times ``NluClient.parse`` (cache off, so every parse reaches Rasa)
with the app's least-in-flight balancing over the app's aiohttp session
(nlu.client.rasa_session): cold start (process start to the first replica's
first parse), time until every replica answers, latency sequentially, at concurrency 8 and
open loop at 40 parses/s, throughput, and resident memory summed over the replicas.
``--raw`` instead measures one Rasa process with plain HTTP posts (no client, TensorFlow
defaults), the single-process figures recorded before replicas. Results print as Markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nlu.client import NluClient, rasa_session  # noqa: E402
from nlu.evaluation import VALUE_TYPES, Scores, evaluate, load_examples  # noqa: E402
from nlu.normalise import rasa_entities  # noqa: E402
from nlu.replicas import RasaReplicas  # noqa: E402
from nlu.server import RasaSupervisor  # noqa: E402
from nlu.train import train  # noqa: E402
from nlu.types import Parse  # noqa: E402

OUT = ROOT / "benchmarks" / "out"
RASA_PY = ROOT / ".venv-rasa/bin/python"


def _rss_mib(pid: int) -> float:
    """Resident memory of a process and its children (Rasa may fork helpers)."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


async def _score(model: Path) -> tuple[Scores, Scores]:
    """Scores through the app's client, and of Rasa's own entities (no rule merge)."""
    examples = load_examples(ROOT / "nlu/test")
    now = datetime.now(UTC)
    sup = RasaSupervisor(rasa_python=RASA_PY, model=model, cwd=ROOT)
    await sup.start(wait=True)
    try:
        async with httpx.AsyncClient(trust_env=False) as http, rasa_session() as session:
            client = NluClient(http, sup, timeout=30.0, cache_size=0, session=session)
            app_scores = await evaluate(client.parse, examples, now)

            async def rasa_only(text: str, now: datetime) -> Parse:
                r = await http.post(
                    f"{sup.url}/model/parse", params={"token": sup.token}, json={"text": text}
                )
                body = r.json()
                found = tuple(rasa_entities(text, body.get("entities") or [], now))
                intent = body["intent"]
                return Parse(text, intent["name"], intent["confidence"], found, source="rasa")

            return app_scores, await evaluate(rasa_only, examples, now)
    finally:
        await sup.stop()


def compare(configs: list[Path]) -> None:
    rows = []
    for config in configs:
        print(f"== {config.relative_to(ROOT)}", file=sys.stderr)
        result = train(
            config=config,
            model_dir=OUT / "models",
            progress=lambda m: print("  " + m, file=sys.stderr),
        )
        scores, raw = asyncio.run(_score(result.model))
        (OUT / f"compare-{config.stem}.json").write_text(
            json.dumps(scores.as_dict(), ensure_ascii=False, indent=2), encoding="utf-8"
        )
        values = " | ".join(
            f"{scores.value_accuracy(e):.3f} ({raw.value_accuracy(e):.2f})" for e in VALUE_TYPES
        )
        train_s = f"{result.seconds:.0f} s" if result.trained else "cached"
        rows.append(
            f"| `{config.relative_to(ROOT)}` | {scores.intent_accuracy:.3f} | {values} | {train_s} |"
        )
    print("value accuracy: through the client (Rasa alone, without the rule merge)")
    print("| pipeline | intent acc | " + " | ".join(VALUE_TYPES) + " | training |")
    print("|---|---|" + "---|" * len(VALUE_TYPES) + "---|")
    print("\n".join(rows))


def _pct(xs: list[float], q: float) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[int(q) - 1]


async def _load(one: Callable[[int], Awaitable[float]], requests: int) -> dict[str, float]:
    """The same load for both modes: warm-up, sequential, concurrency 8, open loop 40/s."""
    for i in range(20):  # warm-up
        await one(i)
    seq = [await one(i) for i in range(requests)]
    sem = asyncio.Semaphore(8)

    async def bounded(i: int) -> float:
        async with sem:
            return await one(i)

    t1 = time.perf_counter()
    conc = await asyncio.gather(*(bounded(i) for i in range(requests)))
    wall = time.perf_counter() - t1

    async def arrive(i: int, rate: float) -> float:
        await asyncio.sleep(i / rate)
        return await one(i)

    # Open loop: messages arrive at a fixed rate (a busy evening), not back to back.
    rate = 40.0
    steady = await asyncio.gather(*(arrive(i, rate) for i in range(int(rate * 10))))
    return {
        "seq50": _pct(seq, 50),
        "seq99": _pct(seq, 99),
        "seq_tput": 1000 / statistics.mean(seq),
        "conc50": _pct(conc, 50),
        "conc99": _pct(conc, 99),
        "conc_tput": requests / wall,
        "open50": _pct(steady, 50),
        "open99": _pct(steady, 99),
    }


def _print(rows: list[tuple[str, str]]) -> None:
    print("| measure | value |")
    print("|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


def _load_rows(m: dict[str, float], requests: int) -> list[tuple[str, str]]:
    return [
        (
            f"sequential p50 / p99 ({requests} parses)",
            f"{m['seq50']:.1f} ms / {m['seq99']:.1f} ms",
        ),
        ("sequential throughput", f"{m['seq_tput']:.0f} parses/s"),
        ("concurrency 8 p50 / p99", f"{m['conc50']:.1f} ms / {m['conc99']:.1f} ms"),
        ("concurrency 8 throughput", f"{m['conc_tput']:.0f} parses/s"),
        (
            "open loop 40 parses/s for 10 s: p50 / p99",
            f"{m['open50']:.1f} ms / {m['open99']:.1f} ms",
        ),
    ]


async def _latency(model: Path, requests: int, replicas: int) -> None:
    """Through RasaReplicas and NluClient, as the app parses."""
    texts = [e.text for e in load_examples(ROOT / "nlu/test")]
    now = datetime.now(UTC)
    reps = RasaReplicas(
        rasa_python=RASA_PY, model=model, count=replicas, cwd=ROOT, startup_timeout=300
    )
    t0 = time.perf_counter()
    await reps.start(wait=True)
    cold = time.perf_counter() - t0
    if not await reps.wait_all_ready(300.0 * replicas):
        await reps.stop()
        raise SystemExit(f"not every replica came up: {[s.state for s in reps.supervisors]}")
    all_ready = time.perf_counter() - t0
    fallbacks = 0
    try:
        async with httpx.AsyncClient(trust_env=False) as http, rasa_session() as session:
            client = NluClient(http, reps, timeout=30.0, cache_size=0, session=session)

            async def one(i: int) -> float:
                nonlocal fallbacks
                start = time.perf_counter()
                parse = await client.parse(texts[i % len(texts)], now)
                fallbacks += parse.source != "rasa"
                return (time.perf_counter() - start) * 1000

            measured = await _load(one, requests)
            rss = sum(_rss_mib(pid) for pid in reps.pids)
            shares = [client.replica_stats().get(u, {}).get("answered", 0) for u in reps.urls]
    finally:
        await reps.stop()

    threads = reps.tf_threads if reps.tf_threads is not None else "TensorFlow default"
    _print(
        [
            ("replicas (TensorFlow threads each)", f"{replicas} ({threads})"),
            ("cold start (process start → first parse of replica 1)", f"{cold:.1f} s"),
            ("all replicas answering after", f"{all_ready:.1f} s"),
            *_load_rows(measured, requests),
            ("parses answered per replica", " / ".join(str(n) for n in shares)),
            ("rule fallbacks (should be 0)", str(fallbacks)),
            ("Rasa RSS after the run, summed over replicas", f"{rss:.0f} MiB"),
        ]
    )


async def _latency_raw(model: Path, requests: int) -> None:
    """One Rasa process, plain HTTP posts: Rasa's own serving cost, no client."""
    texts = [e.text for e in load_examples(ROOT / "nlu/test")]
    sup = RasaSupervisor(rasa_python=RASA_PY, model=model, cwd=ROOT, startup_timeout=300)
    t0 = time.perf_counter()
    await sup.start(wait=True)
    cold = time.perf_counter() - t0
    try:
        async with httpx.AsyncClient(trust_env=False, timeout=30.0) as http:
            url, params = f"{sup.url}/model/parse", {"token": sup.token}

            async def one(i: int) -> float:
                start = time.perf_counter()
                r = await http.post(url, params=params, json={"text": texts[i % len(texts)]})
                r.raise_for_status()
                return (time.perf_counter() - start) * 1000

            measured = await _load(one, requests)
            rss = _rss_mib(sup.pid) if sup.pid else float("nan")
    finally:
        await sup.stop()

    _print(
        [
            ("cold start (process start → first parse)", f"{cold:.1f} s"),
            *_load_rows(measured, requests),
            ("Rasa RSS after the run", f"{rss:.0f} MiB"),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    cmp = sub.add_parser("compare")
    cmp.add_argument("configs", nargs="*", type=Path)
    lat = sub.add_parser("latency")
    lat.add_argument("--requests", type=int, default=400)
    lat.add_argument("--config", type=Path, default=ROOT / "config.yml")
    lat.add_argument("--replicas", type=int, default=2, help="Rasa processes (default 2)")
    lat.add_argument(
        "--raw", action="store_true", help="one process, plain HTTP: the pre-replica figures"
    )
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    if args.cmd == "compare":
        configs = [c.resolve() for c in args.configs] or [
            *sorted((ROOT / "nlu/pipelines").glob("*.yml")),
            ROOT / "config.yml",
        ]
        compare(configs)
    else:
        config = args.config.resolve()
        model_dir = ROOT / "models" if config == ROOT / "config.yml" else OUT / "models"
        model = train(
            config=config, model_dir=model_dir, progress=lambda m: print(m, file=sys.stderr)
        ).model
        if args.raw:
            asyncio.run(_latency_raw(model, args.requests))
        else:
            asyncio.run(_latency(model, args.requests, max(1, args.replicas)))


if __name__ == "__main__":
    main()
