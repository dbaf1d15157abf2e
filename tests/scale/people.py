"""Simulated consumers filing complaints over the REST channel, through the balancer.

Each person answers whatever ``custom.awaiting`` asks for, with a merchant and an amount of
their own (so their case shows whose answers it holds), and keeps a record of every attempt:
status, which instance answered, the replies. A failed attempt (no answer, or a 5xx) is sent
again with the same ``message_id``, as a client that never saw the answer would.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import httpx

from benchmarks.cluster import Cluster

WEBHOOK = "/webhooks/rest/webhook"
START = "/complaint"
RETRYABLE = {500, 502, 503, 504}


def answers_for(n: int) -> dict[str, str]:
    """Answers by the slot asked for; the merchant and the amount are this person's own."""
    return {
        "product": "蓝牙耳机",
        "brand": "索尼",
        "model_no": "/skip",
        "platform": "京东",
        "merchant": f"第{n}号数码专营店",
        "merchant_address": f"https://shop.example.com/{n}",
        "order_no": "/skip",
        "purchase_date": "2026-11-20",
        "amount": str(100 + n),
        "problem": "耳机是假的，序列号查不到，音质很差",
        "demand": "退款并赔偿",
        "claim_amount": "1000",
        "photos": "/skip",
        "name": "张三",
        "phone": "13812345678",
        "address": "北京市朝阳区建国路1号",
        "id_type": "/skip",
        "consent_publish": "/yes",
        "consent_mediation": "/no",
        "confirm": "/confirm",
    }


# /complaint, then one answer per question
MESSAGES_PER_COMPLAINT = 1 + len(answers_for(0))


@dataclass
class Attempt:
    status: int | None  # None: no HTTP answer (connection refused, reset, timed out)
    served_by: str | None
    detail: str  # the error, or the content type and start of a non-200 body
    json_body: bool


@dataclass
class Exchange:
    turn: int
    message_id: str
    text: str
    attempts: list[Attempt] = field(default_factory=list)
    replies: list[dict[str, Any]] = field(default_factory=list)

    @property
    def served_by(self) -> str | None:
        return self.attempts[-1].served_by if self.attempts else None

    @property
    def failures(self) -> list[Attempt]:
        return [a for a in self.attempts if a.status != 200]


class Progress:
    """Counts messages answered across all people; ``reached`` fires at a threshold."""

    def __init__(self, threshold: int | None = None) -> None:
        self.answered = 0
        self.threshold = threshold
        self.reached = asyncio.Event()

    def add(self) -> None:
        self.answered += 1
        if self.threshold is not None and self.answered >= self.threshold:
            self.reached.set()


def balancer_log_tail(cluster: Cluster, lines: int = 5) -> str:
    """Why the balancer answered as it did (a 502's cause: refused, reset, closed early)."""
    log = cluster.balancer.log
    if not log.exists():
        return "(no log)"
    return " | ".join(log.read_text(errors="replace").splitlines()[-lines:]) or "(empty)"


class GaveUp(Exception):
    """A message got an answer no client would send again, or none within ``retry_for``."""


@dataclass
class Person:
    n: int
    run: str
    exchanges: list[Exchange] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)
    case_no: str | None = None
    problem: str | None = None

    @property
    def sender(self) -> str:
        return f"scale-{self.run}-{self.n}"

    async def send(
        self,
        http: httpx.AsyncClient,
        cluster: Cluster,
        text: str,
        *,
        progress: Progress,
        retry_for: float,
    ) -> list[dict[str, Any]]:
        turn = len(self.exchanges)
        exchange = Exchange(turn, f"{self.sender}-{turn}", text)
        self.exchanges.append(exchange)
        body = {"sender": self.sender, "message": text, "message_id": exchange.message_id}
        deadline = time.monotonic() + retry_for
        pause = 0.1
        while True:
            try:
                response = await http.post(WEBHOOK, json=body)
            except httpx.TransportError as exc:
                exchange.attempts.append(Attempt(None, None, repr(exc), False))
            else:
                kind = response.headers.get("content-type", "")
                attempt = Attempt(
                    response.status_code,
                    cluster.served_by(response.headers),
                    f"{kind}: {response.text[:200]}",
                    kind.startswith("application/json"),
                )
                exchange.attempts.append(attempt)
                if response.status_code == 200:
                    exchange.replies = response.json()
                    progress.add()
                    return exchange.replies
                if response.status_code not in RETRYABLE:
                    raise GaveUp(f"{self.sender} turn {turn}: {attempt}")
            if time.monotonic() > deadline:
                raise GaveUp(
                    f"{self.sender} turn {turn}: still failing: {exchange.attempts[-3:]}; "
                    f"the balancer's log ends: {balancer_log_tail(cluster)}"
                )
            await asyncio.sleep(pause)
            pause = min(1.0, pause * 2)

    async def complain(
        self,
        http: httpx.AsyncClient,
        cluster: Cluster,
        *,
        progress: Progress,
        retry_for: float = 0.0,
        stop_before: str | None = None,
    ) -> None:
        """File a complaint to its case number, or stop when ``stop_before`` is asked (a later
        call goes on from there)."""
        answers = answers_for(self.n)
        if self.exchanges:
            replies = self.exchanges[-1].replies
        else:
            replies = await self.send(http, cluster, START, progress=progress, retry_for=retry_for)
        for _ in range(2 * len(answers)):
            custom = replies[-1].get("custom") or {}
            if custom.get("case_no"):
                self.case_no = str(custom["case_no"])
                return
            awaiting = custom.get("awaiting")
            if awaiting == stop_before:
                return
            if awaiting not in answers or awaiting in self.asked:
                self.problem = f"turn {len(self.exchanges)} asked {awaiting!r}: {replies}"
                return
            self.asked.append(awaiting)
            replies = await self.send(
                http, cluster, answers[awaiting], progress=progress, retry_for=retry_for
            )
        self.problem = "no case number"


def crowd(count: int, tag: str) -> list[Person]:
    """``count`` people with senders no other test uses."""
    run = f"{tag}{os.urandom(2).hex()}"
    return [Person(n, run) for n in range(count)]


async def file_complaints(
    cluster: Cluster,
    people: list[Person],
    *,
    progress: Progress | None = None,
    retry_for: float = 0.0,
    stop_before: str | None = None,
    during: Callable[[Progress], Coroutine[Any, Any, None]] | None = None,
) -> Progress:
    """Every person files their complaint at once; ``during`` runs beside them (a fault) and
    is cancelled if they all finish first."""
    progress = progress or Progress()
    limits = httpx.Limits(max_connections=len(people) + 4)
    timeout = httpx.Timeout(60.0, connect=5.0)
    async with httpx.AsyncClient(base_url=cluster.url, limits=limits, timeout=timeout) as http:
        fault = asyncio.create_task(during(progress)) if during is not None else None
        try:
            async with asyncio.TaskGroup() as tasks:
                for p in people:
                    tasks.create_task(
                        p.complain(
                            http,
                            cluster,
                            progress=progress,
                            retry_for=retry_for,
                            stop_before=stop_before,
                        )
                    )
        finally:
            if fault is not None:
                if not fault.done():
                    fault.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await fault
    return progress
