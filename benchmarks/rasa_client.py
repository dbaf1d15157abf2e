"""HTTP clients for the app's parse requests to its own Rasa processes, side by side.

    .venv/bin/python benchmarks/rasa_client.py [--server trivial|rasa|both] [--requests 3000]
                                               [--concurrency 1,8] [--rounds 3]
                                               [--clients aiohttp,httpx] [--loop uvloop|asyncio]

Each client sends what ``NluClient`` sends (``POST /model/parse?token=…``, a JSON body, a
per-request deadline) on kept-alive connections and decodes the JSON answer. Two servers:

* ``trivial``: a bare HTTP/1.1 server in another process that answers every request at once
  with a recorded Rasa answer and Sanic's headers, so the figures are the client's own cost;
* ``rasa``: ``--replicas`` real Rasa processes on the current model, started the way the app
  starts them (nlu.replicas), requests spread over them in turn.

Per client, server and concurrency: requests/s, latency p50/p99 and the CPU this process spent
per request (the servers run in other processes, so that is the client plus a constant
driver share). Clients take turns within each round, in a rotated order, so a machine that
slows down mid-run touches every client alike. Results print as Markdown. The hand-written
client aiohttp replaced (nlu/wire.py) was measured alongside them at commit 555a9b2, the
last that has it (benchmarks/RESULTS.md, "Rasa client").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess  # noqa: S404 - starts this script's own trivial server
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nlu.client import rasa_session  # noqa: E402
from nlu.replicas import RasaReplicas  # noqa: E402
from nlu.server import free_port  # noqa: E402
from nlu.train import train  # noqa: E402

RASA_PY = ROOT / ".venv-rasa/bin/python"
# Loopback only. A leading "-" and characters that need percent-encoding, as tokens may have.
TOKEN = "-bench-token/+="  # noqa: S105
SECONDS = 10.0  # per-request deadline, far above any answer: a timeout here is a failure

TEXTS = [
    "在拼多多花了89块买的充电宝是假的，我要投诉",
    "查一下TS20261127000042",
    "证书号2016010901123456是真的吗",
    "转人工",
    "谢谢",
    "你好",
    "我买到假茅台了怎么办",
    "商家不给退款",
    "昨天在京东买的电动车头盔没有3C标志",
    "我的手机号是13812345678，订单金额一千二百元",
]

# The project's model's answer to TEXTS[0] (Rasa 3.6 ``/model/parse``, recorded): what the
# trivial server sends back, compact and ASCII-escaped as Sanic sends it, so both servers'
# answers have the same shape and size (1,421 B here, 1,412 B from Rasa).
RASA_ANSWER = json.loads(
    """{"text": "在拼多多花了89块买的充电宝是假的，我要投诉", "intent": {"name": "complain",
    "confidence": 0.9999998807907104}, "entities": [{"entity": "platform", "start": 1, "end": 4,
    "confidence_entity": 0.9996218681335449, "value": "拼多多", "extractor": "LeanDIETClassifier",
    "processors": ["EntitySynonymMapper"]}, {"entity": "amount", "start": 6, "end": 8,
    "confidence_entity": 0.9983966946601868, "value": "89", "extractor": "LeanDIETClassifier",
    "processors": ["EntitySynonymMapper"]}, {"entity": "product", "start": 11, "end": 14,
    "confidence_entity": 0.9998279809951782, "value": "充电宝", "extractor": "LeanDIETClassifier",
    "processors": ["EntitySynonymMapper"]}], "text_tokens": [[0, 1], [1, 4], [4, 5], [5, 6],
    [6, 8], [8, 9], [9, 10], [10, 11], [11, 14], [14, 15], [15, 16], [16, 17], [17, 18],
    [18, 20], [20, 22]], "intent_ranking": [{"name": "complain", "confidence": 0.9999998807907104},
    {"name": "inform", "confidence": 8.959207775660616e-08}, {"name": "ask_process",
    "confidence": 2.6585551538005348e-08}, {"name": "report", "confidence": 2.0107291831550356e-08},
    {"name": "ask_ccc_required", "confidence": 1.9993327882161793e-08}, {"name": "case_status",
    "confidence": 1.7804561380785344e-08}, {"name": "goodbye", "confidence": 1.5504788564157934e-08},
    {"name": "deny", "confidence": 1.3067753101836388e-08}, {"name": "thank",
    "confidence": 1.1379258424426553e-08}, {"name": "cancel", "confidence": 1.1364422292103882e-08}]}"""
)
SANIC_HEADERS = (
    b"HTTP/1.1 200 OK\r\naccess-control-expose-headers: filename\r\n"
    b"access-control-allow-credentials: true\r\ncontent-length: %d\r\n"
    b"connection: keep-alive\r\ncontent-type: application/json\r\n\r\n"
)


# ---- the trivial server ---------------------------------------------------------------------
class _Answering(asyncio.Protocol):
    """Reads each request (head, then Content-Length bytes) and answers it at once."""

    def __init__(self, answer: bytes) -> None:
        self._answer = answer
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (end := self._buffer.find(b"\r\n\r\n")) >= 0:
            head = self._buffer[:end].lower()
            at = head.find(b"content-length:")
            length = int(head[at + 15 :].split(b"\r\n", 1)[0]) if at >= 0 else 0
            if len(self._buffer) < end + 4 + length:
                return
            self._buffer = self._buffer[end + 4 + length :]
            if self._transport is not None:
                self._transport.write(self._answer)


def serve(port: int) -> None:
    """The trivial server's process: one event loop (uvloop), Rasa's headers and answer."""
    body = json.dumps(RASA_ANSWER, separators=(",", ":")).encode()
    answer = SANIC_HEADERS % len(body) + body

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Answering(answer), "127.0.0.1", port)
        print("ready", flush=True)
        await server.serve_forever()

    run(main(), "uvloop")


@asynccontextmanager
async def trivial_server() -> Any:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve", str(port), stdout=subprocess.PIPE
    )
    try:
        if proc.stdout is None or not await asyncio.wait_for(proc.stdout.readline(), 10):
            raise RuntimeError("the trivial server did not start")
        yield [f"http://127.0.0.1:{port}"]
    finally:
        proc.terminate()
        await proc.wait()


@asynccontextmanager
async def rasa_servers(count: int) -> Any:
    model = train(progress=lambda msg: print(f"[nlu] {msg}", file=sys.stderr)).model
    replicas = RasaReplicas(
        rasa_python=RASA_PY,
        model=model,
        count=count,
        token=TOKEN,
        cwd=ROOT,
        log_file=ROOT / "var" / "log" / "rasa-bench.log",
        startup_timeout=300,
    )
    await replicas.start(wait=True)
    try:
        if not await replicas.wait_all_ready(600):
            raise RuntimeError(f"replicas not ready: {[s.state for s in replicas.supervisors]}")
        yield replicas.urls
    finally:
        await replicas.stop()


# ---- the clients ----------------------------------------------------------------------------
Post = Callable[[str, str], Awaitable[dict[str, Any]]]


def _body(text: str) -> bytes:
    return json.dumps({"text": text}, ensure_ascii=False).encode()


@asynccontextmanager
async def aiohttp_client() -> Any:
    """As ``NluClient`` asks over ``rasa_session()``."""
    async with rasa_session() as session:
        path = f"/model/parse?token={quote(TOKEN, safe='')}"
        headers = {"Content-Type": "application/json"}

        async def post(base: str, text: str) -> dict[str, Any]:
            async with asyncio.timeout(SECONDS):
                async with session.post(base + path, data=_body(text), headers=headers) as response:
                    status, body = response.status, await response.read()
            if status != 200:
                raise RuntimeError(f"HTTP {status}")
            return json.loads(body)  # type: ignore[no-any-return]

        yield post


@asynccontextmanager
async def httpx_client() -> Any:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=32)
    async with httpx.AsyncClient(trust_env=False, limits=limits) as http:
        urls: dict[str, httpx.URL] = {}

        async def post(base: str, text: str) -> dict[str, Any]:
            url = urls.get(base)
            if url is None:
                url = urls[base] = httpx.URL(base + "/model/parse", params={"token": TOKEN})
            response = await http.post(
                url,
                content=_body(text),
                headers={"Content-Type": "application/json"},
                timeout=SECONDS,
            )
            response.raise_for_status()
            return response.json()  # type: ignore[no-any-return]

        yield post


CLIENTS: dict[str, Callable[[], AbstractAsyncContextManager[Post]]] = {
    "aiohttp": aiohttp_client,
    "httpx": httpx_client,
}


# ---- measuring ------------------------------------------------------------------------------
@dataclass
class Figures:
    latencies: list[float] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    failures: int = 0

    def row(self) -> list[str]:
        ms = sorted(x * 1000 for x in self.latencies)
        p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
        return [
            f"{statistics.median(self.rates):,.0f}",
            f"{statistics.median(ms):.2f} / {p99:.2f}",
            f"{statistics.median(self.cpu_ms):.3f}",
            str(self.failures),
        ]


async def phase(post: Post, urls: list[str], requests: int, concurrency: int, out: Figures) -> None:
    """``requests`` posts from ``concurrency`` workers, worker i on replica i mod n."""
    per_worker = requests // concurrency

    async def worker(i: int) -> None:
        url = urls[i % len(urls)]
        for n in range(per_worker):
            started = time.perf_counter()
            try:
                answer = await post(url, TEXTS[(i + n) % len(TEXTS)])
                if not isinstance(answer.get("intent"), dict):
                    raise RuntimeError("no intent")
            except Exception:  # noqa: BLE001 - counted, the run goes on
                out.failures += 1
                continue
            out.latencies.append(time.perf_counter() - started)

    cpu = time.process_time()
    wall = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    wall = time.perf_counter() - wall
    cpu = time.process_time() - cpu
    done = per_worker * concurrency
    out.rates.append(done / wall)
    out.cpu_ms.append(cpu / done * 1000)


async def measure(
    urls: list[str], clients: list[str], args: argparse.Namespace
) -> dict[tuple[str, int], Figures]:
    results: dict[tuple[str, int], Figures] = {}
    for round_no in range(args.rounds):
        shift = round_no % len(clients)
        for name in clients[shift:] + clients[:shift]:
            async with CLIENTS[name]() as post:
                await phase(post, urls, args.warmup, max(args.concurrency), Figures())
                for concurrency in args.concurrency:
                    figures = results.setdefault((name, concurrency), Figures())
                    await phase(post, urls, args.requests, concurrency, figures)
            print(f"  round {round_no + 1}: {name} done", file=sys.stderr)
    return results


def table(server: str, results: dict[tuple[str, int], Figures]) -> str:
    lines = [
        f"server: {server}",
        "",
        "| client | concurrency | requests/s | p50 / p99 ms | client CPU ms/request | failed |",
        "|---|---|---|---|---|---|",
    ]
    for (name, concurrency), figures in sorted(
        results.items(), key=lambda kv: (kv[0][1], kv[0][0])
    ):
        lines.append("| " + " | ".join([name, str(concurrency), *figures.row()]) + " |")
    return "\n".join(lines)


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs ({model}); Python {sys.version.split()[0]}; "
        f"aiohttp {aiohttp.__version__}, httpx {httpx.__version__}; load average {load}"
    )


async def main(args: argparse.Namespace) -> None:
    clients = args.clients
    print(machine())
    print(
        f"{args.requests} requests per client and concurrency per round, {args.rounds} rounds, "
        f"{args.loop} loop\n"
    )
    servers: list[tuple[str, Callable[[], AbstractAsyncContextManager[list[str]]]]] = []
    if args.server in ("trivial", "both"):
        servers.append(("trivial (recorded Rasa answer, one process)", trivial_server))
    if args.server in ("rasa", "both"):
        servers.append((f"Rasa, {args.replicas} replicas", lambda: rasa_servers(args.replicas)))
    for label, start in servers:
        async with AsyncExitStack() as stack:
            urls = await stack.enter_async_context(start())
            print(table(label, await measure(urls, clients, args)) + "\n", flush=True)


def run(coro: Coroutine[Any, Any, None], loop: str) -> None:
    if loop == "uvloop":
        import uvloop

        uvloop.run(coro)
    else:
        asyncio.run(coro)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", choices=["trivial", "rasa", "both"], default="both")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument(
        "--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 8]
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--clients", type=lambda s: s.split(","), default=["httpx", "aiohttp"])
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.serve:
        serve(arguments.serve)
    else:
        run(main(arguments), arguments.loop)
