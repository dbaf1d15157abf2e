"""Chat load benchmark: simulated consumers file complete complaints over the REST channel.

By default it starts the real app itself (fresh data dir, ``weiquan db upgrade``,
``weiquan serve`` on a free loopback port) and, in the same run, a bare FastAPI endpoint of
the same shape (benchmarks/bare_app.py) as the ceiling; both get the same worker count and
the same client. Each consumer answers whatever ``custom.awaiting`` asks for, so a re-asked
question shows up as an error instead of a silently wrong conversation; every conversation
must end with a case number. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from cluster import BALANCERS, Cluster, PrivatePostgres, fresh_database

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "RESULTS.md"
SECTION = "## Chat load (REST channel)"
CLUSTER_SECTION = "## Chat load, several instances behind a load balancer (PostgreSQL)"
DATABASES = {"sqlite": "SQLite (WAL)", "postgresql": "PostgreSQL 15 (a private cluster)"}
WEBHOOK = "/webhooks/rest/webhook"

START = "/complaint"
# (awaited slot, answer): the complaint of issue 2, in the order the flow asks for it.
SCRIPT: list[tuple[str, str]] = [
    ("product", "蓝牙耳机"),
    ("brand", "索尼"),
    ("model_no", "/skip"),
    ("platform", "京东"),
    ("merchant", "某某数码专营店"),
    ("merchant_address", "https://shop.example.com/123"),
    ("order_no", "/skip"),
    ("purchase_date", "昨天"),
    ("amount", "399"),
    ("problem", "耳机是假的，序列号查不到，音质很差"),
    ("demand", "退款并赔偿"),
    ("claim_amount", "1197"),
    ("photos", "/skip"),
    ("name", "张三"),
    ("phone", "13812345678"),
    ("address", "北京市朝阳区建国路1号"),
    ("id_type", "/skip"),
    ("consent_publish", "/yes"),
    ("consent_mediation", "/no"),
    ("confirm", "/confirm"),
]
ANSWERS = dict(SCRIPT)
TURNS = len(SCRIPT) + 1
CASE_NO = re.compile(r"^TS\d{8}\d{6}$")
TARGET_RATE = 300.0
TARGET_P99_MS = 100.0


# ---- measurement ---------------------------------------------------------------------------
@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    by_step: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    conversations: int = 0
    cases: set[str] = field(default_factory=set)

    def error(self, kind: str, sample: str) -> None:
        self.errors[kind] += 1
        if len(self.samples) < 5:
            self.samples.append(f"{kind}: {sample}")


@dataclass
class Window:
    """Which messages count: those sent between start and end (warm-up is discarded)."""

    start: float
    end: float | None
    conversations: int | None
    started: int = 0

    def open(self, now: float) -> bool:
        return now >= self.start

    def expired(self, now: float) -> bool:
        return self.end is not None and now >= self.end

    def full(self) -> bool:
        return self.conversations is not None and self.started >= self.conversations


class Pacer:
    """Open loop (wrk2 style): message k is due at start + k/rate; latency counts from then."""

    def __init__(self, rate: float, start: float) -> None:
        self.interval = 1.0 / rate
        self.start = start
        self.k = 0

    def take(self) -> float:
        due = self.start + self.k * self.interval
        self.k += 1
        return due


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def _ticks(pid: int) -> int:
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    return 0


def tree(root: int) -> list[int]:
    """The process and its descendants (uvicorn's supervisor and its workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies over all cores, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


class CpuMeter:
    """CPU over a window, per group of process trees (e.g. ``{"server": [pid]}``), for this
    client, and for the whole machine."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self.tick = os.sysconf("SC_CLK_TCK")

    def snapshot(self) -> tuple[float, float, dict[str, dict[int, int]], tuple[int, int]]:
        return (
            time.perf_counter(),
            time.process_time(),
            {
                name: {p: _ticks(p) for root in roots for p in tree(root)}
                for name, roots in self.groups.items()
            },
            machine_busy(),
        )

    def between(self, a: Any, b: Any) -> dict[str, float]:
        wall = b[0] - a[0]
        client = (b[1] - a[1]) / wall
        busy = (b[3][0] - a[3][0]) / max(1, b[3][1] - a[3][1])
        usage = {"client_cores": client, "machine_busy": busy, "server_cores": float("nan")}
        measured = 0.0
        for name, ticks in b[2].items():
            cores = sum(t - a[2][name].get(p, 0) for p, t in ticks.items()) / self.tick / wall
            usage[f"{name}_cores"] = cores
            measured += cores
        usage["other_cores"] = busy * (os.cpu_count() or 1) - client - measured
        return usage


# ---- clients -------------------------------------------------------------------------------
class Failed(Exception):
    """The request got no HTTP answer."""


class Stale(Exception):
    """The connection was closed before any answer came."""


class RawConnection:
    """A lean keep-alive HTTP/1.1 client for one consumer: the load generator shares the cores
    with the server, so every microsecond it spends is taken from the server."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
        data = json.dumps(body, ensure_ascii=False).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        ).encode()
        reused = self.streams is not None
        try:
            return await self._exchange(head + data)
        except Stale:
            if not reused:
                raise Failed("the server closed the connection without answering") from None
            # A kept-alive connection the server had closed: resend once on a new one (the
            # message_id makes a repeat harmless).
            return await self._exchange(head + data)

    async def _exchange(self, request: bytes) -> tuple[int, bytes]:
        try:
            if self.streams is None:
                self.streams = await asyncio.open_connection(self.host, self.port)
            reader, writer = self.streams
            writer.write(request)
            status_line = await reader.readline()
            if not status_line:
                raise Stale
            status = int(status_line.split(b" ", 2)[1])
            length, close = 0, False
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding":
                    raise Failed(f"unsupported transfer-encoding {value.strip()!r}")
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
            payload = await reader.readexactly(length)
        except Stale:
            self.close()
            raise
        except (OSError, IndexError, ValueError, asyncio.IncompleteReadError) as exc:
            self.close()
            raise Failed(repr(exc)) from exc
        if close or status >= 400:
            self.close()  # the server may drop the connection after an error: start afresh
        return status, payload

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


class HttpxConnection:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
        try:
            response = await self.client.post(path, json=body)
        except httpx.HTTPError as exc:
            raise Failed(repr(exc)) from exc
        return response.status_code, response.content

    def close(self) -> None:
        pass


# ---- the consumers -------------------------------------------------------------------------
class Consumer:
    def __init__(
        self,
        n: int,
        conn: RawConnection | HttpxConnection,
        stats: Stats,
        window: Window,
        pacer: Pacer | None,
        fresh_connections: bool = False,
        offset: float = 0.0,
    ) -> None:
        self.n = n
        self.fresh_connections = fresh_connections
        self.offset = offset
        self.conn = conn
        self.stats = stats
        self.window = window
        self.pacer = pacer
        self.run = os.urandom(3).hex()

    async def send(self, sender: str, turn: int, text: str, step: str) -> list[dict[str, Any]]:
        due = self.pacer.take() if self.pacer else time.perf_counter()
        if self.pacer:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
        body = {"sender": sender, "message": text, "message_id": f"{sender}-{turn}"}
        counted = self.window.open(due) and not self.window.expired(due)
        try:
            status, payload = await self.conn.post(WEBHOOK, body)
        except Failed as exc:
            self.stats.error("transport", f"{body} -> {exc}")
            raise Abandon from exc
        elapsed = time.perf_counter() - due
        if counted:
            self.stats.latencies.append(elapsed)
            self.stats.by_step.setdefault(step, []).append(elapsed)
        text_out = payload.decode(errors="replace")
        if status != 200:
            self.stats.error(f"http:{status}", f"{body} -> {text_out[:500]}")
            raise Abandon
        try:
            replies = json.loads(payload)
        except ValueError:
            replies = None
        if not isinstance(replies, list) or not replies:
            self.stats.error("bad-reply", f"{body} -> {text_out[:500]}")
            raise Abandon
        return replies

    async def conversation(self, k: int) -> None:
        sender = f"bench-{self.run}-{self.n}-{k}"
        if self.fresh_connections:
            self.conn.close()  # a new person: the next message opens a new connection
        replies = await self.send(sender, 0, START, "start")
        asked: str | None = None
        for turn in range(1, TURNS * 2):
            custom = replies[-1].get("custom") or {}
            case_no = custom.get("case_no")
            if case_no:
                if not CASE_NO.match(case_no) or case_no in self.stats.cases:
                    self.stats.error("bad-case-no", f"{sender}: {case_no!r}")
                else:
                    self.stats.cases.add(case_no)
                    if self.window.open(time.perf_counter()):
                        self.stats.conversations += 1
                return
            awaiting = custom.get("awaiting")
            if awaiting not in ANSWERS:
                self.stats.error("unexpected-question", f"{sender} turn {turn}: {replies}")
                raise Abandon
            if awaiting == asked:
                self.stats.error("re-asked", f"{sender} {awaiting!r}: {replies[-1].get('text')}")
                raise Abandon
            asked = awaiting
            if self.window.expired(time.perf_counter()):
                return
            replies = await self.send(sender, turn, ANSWERS[awaiting], awaiting)
        self.stats.error("no-case", f"{sender}: {TURNS * 2} turns without a case number")

    async def loop(self) -> None:
        k = 0
        # People do not all start (and so confirm) in the same instant: without the offset every
        # consumer reaches the summary step together, and the run measures that stampede.
        await asyncio.sleep(self.offset)
        try:
            while not (self.window.expired(time.perf_counter()) or self.window.full()):
                if self.window.open(time.perf_counter()):
                    self.window.started += 1
                with contextlib.suppress(Abandon):
                    await self.conversation(k)
                k += 1
        finally:
            self.conn.close()


def conversation_spread(args: argparse.Namespace) -> float:
    """Seconds over which the consumers' first conversations start: one conversation's length
    at the offered rate (open loop), or a short fixed spread (closed loop), within warm-up."""
    if args.rate:
        return min(args.warmup, TURNS * args.consumers / args.rate)
    return min(args.warmup, 0.02 * args.consumers)


class Abandon(Exception):
    """This conversation cannot go on; the consumer starts a new one."""


async def drive(
    url: str, args: argparse.Namespace, groups: dict[str, list[int]]
) -> tuple[Stats, dict[str, float]]:
    stats = Stats()
    target = httpx.URL(url)
    limits = httpx.Limits(max_connections=args.consumers, max_keepalive_connections=args.consumers)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30.0) as client:
        now = time.perf_counter()
        spread = conversation_spread(args)
        end = now + args.warmup + args.duration if args.duration else None
        window = Window(now + args.warmup, end, args.conversations)
        pacer = Pacer(args.rate, now) if args.rate else None
        meter = CpuMeter(groups)
        gc.collect()
        gc.freeze()
        consumers = []
        for n in range(args.consumers):
            if args.client == "raw":
                conn: RawConnection | HttpxConnection = RawConnection(
                    target.host, target.port or 80
                )
            else:
                conn = HttpxConnection(client)
            fresh = args.client == "raw" and not args.keep_connection
            offset = n * spread / args.consumers
            consumers.append(Consumer(n, conn, stats, window, pacer, fresh, offset))
        tasks = [asyncio.create_task(c.loop()) for c in consumers]
        await asyncio.sleep(max(0.0, window.start - time.perf_counter()))
        before = meter.snapshot()
        await asyncio.gather(*tasks)
        after = meter.snapshot()
    usage = meter.between(before, after)
    usage["seconds"] = args.duration if args.duration else after[0] - before[0]
    return stats, usage


def run_loop(main: Any) -> Any:
    """uvloop when the venv has it (uvicorn[standard] brings it): a cheaper client."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


# ---- servers -------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_rasa(port: int, timeout: float = 300.0) -> None:
    """Measure with Rasa answering, not the rule fallback it uses while loading."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, ValueError):
            ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).json()
            if ready.get("nlu", {}).get("engine") == "rasa":
                return
        time.sleep(1.0)
    raise SystemExit(f"Rasa did not come up within {timeout:g} s")


@contextlib.contextmanager
def server(
    cmd: list[str], env: dict[str, str], log: Path, port: int, start_seconds: float = 60
) -> Iterator[int]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, process_group=0
        )
    try:
        deadline = time.monotonic() + start_seconds
        while True:
            if proc.poll() is not None:
                raise SystemExit(
                    f"{shlex.join(cmd)} exited {proc.returncode}:\n{log.read_text()[-3000:]}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"{shlex.join(cmd)} not healthy after {start_seconds:g} s:\n"
                    f"{log.read_text()[-3000:]}"
                )
            time.sleep(0.2)
        time.sleep(1.0)  # let every worker finish its lifespan (migrations, warm caches)
        if env.get("WEIQUAN_NLU_MANAGE") == "true":
            wait_for_rasa(port)
        yield proc.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()


def app_server(
    workers: int, data_dir: Path, nlu: str = "rules", database_url: str | None = None
) -> tuple[list[str], dict[str, str], int]:
    port = free_port()
    env = {**os.environ, "WEIQUAN_DATA_DIR": str(data_dir), "WEIQUAN_LOG_LEVEL": "warning"}
    env.pop("WEIQUAN_DATABASE_URL", None)
    env.pop("WEIQUAN_NLU_URL", None)
    if database_url:
        env["WEIQUAN_DATABASE_URL"] = database_url
    # rules: the rule fallback only; rasa: the server starts and supervises Rasa itself.
    env["WEIQUAN_NLU_MANAGE"] = "true" if nlu == "rasa" else "false"
    # Every simulated consumer comes from this one address: the limits stay on (their cost is
    # measured), the per-address one too high to reach.
    env["WEIQUAN_RATE_LIMIT_ADDRESS_PER_MINUTE"] = "1000000000"
    env["WEIQUAN_RATE_LIMIT_ADDRESS_BURST"] = "1000000000"
    bindir = Path(sys.executable).parent
    weiquan = str(bindir / "weiquan")
    subprocess.run([weiquan, "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True)
    cmd = [weiquan, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    return cmd, env, port


def bare_server(workers: int) -> tuple[list[str], dict[str, str], int]:
    port = free_port()
    cmd = [
        sys.executable, "-m", "uvicorn", "bare_app:app", "--app-dir", str(HERE),
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    return cmd, dict(os.environ), port


# ---- report --------------------------------------------------------------------------------
@dataclass
class Result:
    label: str
    stats: Stats
    usage: dict[str, float]

    @property
    def rate(self) -> float:
        return len(self.stats.latencies) / self.usage["seconds"]

    def ms(self, q: float) -> float:
        return percentile(self.stats.latencies, q) * 1000

    def per_message(self, key: str) -> str:
        cores = self.usage[key]
        if not self.rate or cores != cores:
            return "n/a"
        return f"{cores / self.rate * 1000:.2f} ms/msg"

    def row(self) -> str:
        s, u = self.stats, self.usage
        return (
            f"| {self.label} | {self.rate:,.0f} | {self.ms(50):.1f} | {self.ms(95):.1f} | {self.ms(99):.1f} "
            f"| {self.ms(100):.1f} | {sum(s.errors.values())} | {s.conversations} "
            f"| {u['server_cores']:.2f} ({self.per_message('server_cores')}) "
            f"| {u['client_cores']:.2f} ({self.per_message('client_cores')}) | {u['other_cores']:.2f} "
            f"| {u['machine_busy'] * 100:.0f}% |"
        )

    def cluster_row(self) -> str:
        u = self.usage

        def cores(key: str) -> str:
            return f"{u[key]:.2f} ({self.per_message(key)})"

        return (
            f"| {self.label} | {self.rate:,.0f} | {self.ms(50):.1f} | {self.ms(95):.1f} "
            f"| {self.ms(99):.1f} | {self.ms(100):.1f} | {sum(self.stats.errors.values())} "
            f"| {self.stats.conversations} | {cores('server_cores')} | {cores('balancer_cores')} "
            f"| {cores('postgres_cores')} | {cores('client_cores')} | {u['other_cores']:.2f} "
            f"| {u['machine_busy'] * 100:.0f}% |"
        )


HEADER = (
    "| target | messages/s | p50 ms | p95 ms | p99 ms | max ms | errors | conversations "
    "| server CPU cores (per message) | client CPU cores (per message) | other processes CPU "
    "| machine busy |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def machine() -> dict[str, str]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"model name\s*:\s*(.+)", cpuinfo)
    mem = re.search(r"MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text())
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    return {
        "cores": str(os.cpu_count()),
        "cpu": model.group(1).strip() if model else platform.processor(),
        "memory": f"{int(mem.group(1)) / 1024 / 1024:.1f} GiB" if mem else "?",
        "python": platform.python_version(),
        "os": platform.platform(),
        "commit": commit.stdout.strip() or "?",
    }


def report(results: list[Result], args: argparse.Namespace, command: str) -> str:
    m = machine()
    mode = f"open loop at {args.rate:g} messages/s" if args.rate else "closed loop (no think time)"
    connections = (
        "one per consumer, kept for the whole run"
        if args.keep_connection or args.client != "raw"
        else "a new keep-alive connection per conversation (each conversation is a new person)"
    )
    lines = [
        SECTION,
        "",
        f"Recorded {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `benchmarks/chat_load.py` at commit {m['commit']} "
        "(working tree may hold uncommitted changes).",
        "",
        f"- Machine: {m['cores']} cores, {m['cpu']}, {m['memory']} RAM, Python {m['python']}, {m['os']}",
        f"- Command: `{command}`",
        f"- Load: {args.consumers} consumers, {mode}, {args.workers} uvicorn worker(s), {DATABASES[args.database]}, "
        f"{'rule-fallback' if args.nlu == 'rules' else 'Rasa'} NLU; niceness {args.nice}; {args.warmup:g} s warm-up discarded, consumers' first conversations spread over its first {conversation_spread(args):.1f} s. One conversation = {TURNS} messages "
        "ending in a `TS…` case number.",
        f"- Connections: {connections}.",
        f"- CPU columns are in cores, measured from /proc over the window. The client ({args.client}, "
        "one process, uvloop) shares the same cores as the server; 'other processes' is everything else on the "
        "machine during the run (other people's builds, tests, a Rasa server).",
        "",
        HEADER,
        *[r.row() for r in results],
        "",
    ]
    app = next((r for r in results if r.label.startswith("weiquan")), None)
    if app:
        ok = app.rate >= TARGET_RATE and app.ms(99) < TARGET_P99_MS and not app.stats.errors
        lines.append(
            f"Target (≥ {TARGET_RATE:.0f} messages/s at p99 < {TARGET_P99_MS:.0f} ms, no errors): "
            f"**{'met' if ok else 'not met'}**."
        )
        lines += ["", "Per step of the app (ms): " + ", ".join(
            f"{step} p50 {percentile(v, 50) * 1000:.0f}/p99 {percentile(v, 99) * 1000:.0f}"
            for step, v in sorted(app.stats.by_step.items(), key=lambda kv: -percentile(kv[1], 99))[:6]
        ) + "."]  # fmt: skip
    if app and "postgres_cores" in app.usage:
        lines += ["", f"PostgreSQL (the private cluster) used {app.usage['postgres_cores']:.2f} cores "
                  f"({app.per_message('postgres_cores')}) beside the server."]  # fmt: skip
    for r in results:
        if r.stats.samples:
            lines += ["", f"Errors of {r.label}: {dict(r.stats.errors)}; first samples:"]
            lines += [f"- `{s[:400]}`" for s in r.stats.samples]
    return "\n".join(lines) + "\n"


CLUSTER_HEADER = (
    "| target | messages/s | p50 ms | p95 ms | p99 ms | max ms | errors | conversations "
    "| app CPU cores (per message) | balancer CPU cores (per message) "
    "| PostgreSQL CPU cores (per message) | client CPU cores (per message) "
    "| other processes CPU | machine busy |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def cluster_report(results: list[Result], args: argparse.Namespace, command: str) -> str:
    m = machine()
    mode = f"open loop at {args.rate:g} messages/s" if args.rate else "closed loop (no think time)"
    lines = [
        CLUSTER_SECTION,
        "",
        f"Recorded {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `benchmarks/chat_load.py` at commit "
        f"{m['commit']} (working tree may hold uncommitted changes).",
        "",
        f"- Machine: {m['cores']} cores, {m['cpu']}, {m['memory']} RAM, Python {m['python']}, "
        f"{m['os']}",
        f"- Command: `{command}`",
        f"- Load: {args.consumers} consumers, {mode}; one conversation = {TURNS} messages ending "
        f"in a `TS…` case number; {args.warmup:g} s warm-up discarded; niceness {args.nice}.",
        f"- Each instance is `weiquan serve --workers {args.workers}` with its own data directory "
        f"(benchmarks/cluster.py), all on one private PostgreSQL 15 cluster (a fresh database for "
        f"each row), behind Debian's {args.lb} on loopback, round-robin per request. The first "
        "row is the same single instance without the balancer.",
        "- CPU columns are in cores, measured from /proc over the window: the instances, the "
        "balancer, PostgreSQL (its postmaster's tree), the client, and everything else.",
        "",
        CLUSTER_HEADER,
        *[r.cluster_row() for r in results],
        "",
    ]
    for r in results:
        if r.stats.samples:
            lines += ["", f"Errors of {r.label}: {dict(r.stats.errors)}; first samples:"]
            lines += [f"- `{s[:400]}`" for s in r.stats.samples]
    return "\n".join(lines) + "\n"


def record(section: str, title: str = SECTION) -> None:
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


# ---- main ----------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--consumers", type=int, default=32, help="concurrent simulated consumers")
    until = p.add_mutually_exclusive_group()
    until.add_argument("--duration", type=float, help="seconds measured per target (default 20)")
    until.add_argument("--conversations", type=int, help="conversations started per target")
    p.add_argument(
        "--warmup",
        type=float,
        default=5.0,
        help="seconds of load discarded first (the consumers' starts are spread within it)",
    )
    p.add_argument(
        "--rate", type=float, help="open loop: offered messages/s instead of as fast as possible"
    )
    p.add_argument(
        "--workers",
        type=int,
        help="uvicorn workers for both servers (default 2), or of each instance (default 1)",
    )
    p.add_argument(
        "--client",
        choices=["raw", "httpx"],
        default="raw",
        help="raw: a lean keep-alive HTTP/1.1 client (default); httpx: httpx.AsyncClient",
    )
    p.add_argument(
        "--keep-connection",
        action="store_true",
        help="raw client: one connection per consumer for the whole run, instead of a new "
        "connection per conversation (each conversation is a different person; with several "
        "workers, connections are what the kernel spreads between them)",
    )
    p.add_argument("--url", help="drive an already running app instead of starting one")
    p.add_argument(
        "--nlu",
        choices=("rules", "rasa"),
        default="rules",
        help="understanding in the started app: the rule fallback, or a managed Rasa server",
    )
    p.add_argument("--no-ceiling", action="store_true", help="skip the bare FastAPI ceiling")
    p.add_argument(
        "--nice",
        type=int,
        default=0,
        help="niceness for the client and servers (negative needs root): on a shared machine, "
        "keeps other people's jobs from taking the cores mid-run",
    )
    p.add_argument(
        "--database",
        choices=sorted(DATABASES),
        default="sqlite",
        help="the started app's database: SQLite in its data dir, or a private PostgreSQL "
        "cluster started with Debian's initdb and pg_ctl",
    )
    p.add_argument(
        "--instances",
        type=int,
        help="measure 1, 2 … N instances (separate processes, one PostgreSQL database) behind "
        "a load balancer, in one run; needs --database postgresql",
    )
    p.add_argument(
        "--lb",
        choices=sorted(BALANCERS),
        default="nginx",
        help="the load balancer in front of --instances (Debian's package)",
    )
    p.add_argument("--record", action="store_true", help=f"write the summary into {RESULTS.name}")
    args = p.parse_args(argv)
    if args.duration is None and args.conversations is None:
        args.duration = 20.0
    if args.workers is None:
        args.workers = 1 if args.instances else 2
    if args.consumers < 1 or args.workers < 1:
        p.error("--consumers and --workers must be at least 1")
    if args.instances is not None:
        if args.instances < 1:
            p.error("--instances must be at least 1")
        if args.database != "postgresql":
            p.error("--instances shares one database between processes: use --database postgresql")
        if args.url or args.nlu != "rules":
            p.error("--instances starts its own rule-fallback instances: no --url or --nlu rasa")
    return args


def measure(label: str, url: str, args: argparse.Namespace, groups: dict[str, list[int]]) -> Result:
    print(f"… {label}: {args.consumers} consumers against {url}", file=sys.stderr, flush=True)
    stats, usage = run_loop(drive(url, args, groups))
    return Result(label, stats, usage)


def warn_of_tracebacks(log: str) -> None:
    if "Traceback" in log:
        print(f"server log shows errors:\n{log[-4000:]}", file=sys.stderr)


@contextlib.contextmanager
def private_postgres(args: argparse.Namespace) -> Iterator[PrivatePostgres]:
    with PrivatePostgres() as pg:
        if args.nice:
            # pg_ctl starts the server in a session of its own: give it this one's priority.
            with contextlib.suppress(OSError):
                Path(f"/proc/{pg.pid}/autogroup").write_text(f"{args.nice}\n")
        yield pg


def measure_instances(args: argparse.Namespace, work: Path) -> list[Result]:
    """1 … N instances behind the balancer, each count on a fresh database of one private
    PostgreSQL cluster; one instance also without the balancer, for its overhead."""
    results: list[Result] = []
    with private_postgres(args) as pg:
        for n in range(1, args.instances + 1):
            with (
                fresh_database(pg.admin_url, "weiquan_bench") as url,
                Cluster(
                    url, work / f"x{n}", instances=n, balancer=args.lb, workers=args.workers
                ) as cluster,
            ):
                time.sleep(1.0)  # let every worker finish its lifespan
                groups = {
                    "server": [i.pid for i in cluster.instances],
                    "balancer": [cluster.balancer.pid],
                    "postgres": [pg.pid],
                }
                if n == 1:
                    direct = cluster.instances[0].url
                    results.append(measure("1 instance, no balancer", direct, args, groups))
                label = f"{n} instance{'s' if n > 1 else ''} behind {args.lb}"
                results.append(measure(label, cluster.url, args, groups))
                warn_of_tracebacks(cluster.logs())
    return results


def measure_one(args: argparse.Namespace, work: Path) -> list[Result]:
    """The bare ceiling (unless --no-ceiling), then the app: started here, or at --url."""
    results: list[Result] = []
    if not args.no_ceiling:
        cmd, env, port = bare_server(args.workers)
        with server(cmd, env, work / "bare.log", port) as pid:
            url = f"http://127.0.0.1:{port}"
            results.append(measure("bare FastAPI (ceiling)", url, args, {"server": [pid]}))
    if args.url:
        results.append(measure("weiquan (external)", args.url, args, {}))
        return results
    with contextlib.ExitStack() as stack:
        database_url = None
        if args.database == "postgresql":
            pg = stack.enter_context(private_postgres(args))
            database_url = stack.enter_context(fresh_database(pg.admin_url, "weiquan_bench"))
        cmd, env, port = app_server(args.workers, work / "data", args.nlu, database_url)
        with server(cmd, env, work / "app.log", port) as pid:
            url = f"http://127.0.0.1:{port}"
            groups = {"server": [pid]}
            if args.database == "postgresql":
                groups["postgres"] = [pg.pid]  # its own CPU, not counted as 'other processes'
            results.append(measure("weiquan REST webhook", url, args, groups))
    warn_of_tracebacks((work / "app.log").read_text(errors="replace"))
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.nice:
        # The servers inherit both. With the kernel's autogroups, plain niceness only ranks
        # processes of one session; the autogroup's niceness ranks this session among others.
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)
        with contextlib.suppress(OSError):
            Path("/proc/self/autogroup").write_text(f"{args.nice}\n")
    command = shlex.join(
        ["python", "benchmarks/chat_load.py", *(sys.argv[1:] if argv is None else argv)]
    )
    with tempfile.TemporaryDirectory(prefix="weiquan-bench-") as tmp:
        if args.instances:
            results = measure_instances(args, Path(tmp))
            section, title = cluster_report(results, args, command), CLUSTER_SECTION
        else:
            results = measure_one(args, Path(tmp))
            section, title = report(results, args, command), SECTION
    print(section)
    if args.record:
        record(section, title)
        print(f"recorded in {RESULTS.relative_to(ROOT)}", file=sys.stderr)
    apps = results if args.instances else results[-1:]
    return 1 if any(r.stats.errors or r.stats.conversations == 0 for r in apps) else 0


if __name__ == "__main__":
    sys.exit(main())
