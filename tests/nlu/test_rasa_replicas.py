"""Two real Rasa replicas behind one NluClient: both serve, and losing one loses nothing."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from nlu.client import NluClient, rasa_session
from nlu.replicas import RasaReplicas
from nlu.server import TF_THREAD_VARIABLES
from nlu.train import ROOT
from nlu.types import INTENTS, Parse
from tests.nlu.conftest import NOW, RASA_PYTHON

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

TEXTS = [
    "在拼多多花了89块买的充电宝是假的，我要投诉",
    "查一下TS20261127000042",
    "证书号2016010901123456是真的吗",
    "转人工",
    "谢谢",
    "你好",
    "我买到假茅台了怎么办",
    "商家不给退款",
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def replicas(rasa_model: Path) -> AsyncIterator[RasaReplicas]:
    """Two ``rasa run`` processes on the trained model, started the way the app does."""
    reps = RasaReplicas(
        rasa_python=RASA_PYTHON,
        model=rasa_model,
        count=2,
        cwd=ROOT,
        backoff=(0.5, 2.0),
        # Production's probe interval: these tests kill replicas, which the supervisor sees at
        # once; a hang is tests/nlu/test_rasa_server.py's. A shorter one took a replica that was
        # only slow, on a loaded CI machine, for a hung one and restarted it.
        health_interval=10.0,
        startup_timeout=300,
        log_file=ROOT / "var" / "log" / "rasa-replica-tests.log",
    )
    await reps.start(wait=True)
    assert await reps.wait_all_ready(600), [s.state for s in reps.supervisors]
    yield reps
    await reps.stop()


def environ(pid: int) -> list[bytes]:
    return Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")


async def eventually(condition: Callable[[], bool], seconds: float = 300.0) -> bool:
    """Poll without a latency expectation: the limit only stops a broken run."""
    for _ in range(int(seconds / 0.25)):
        if condition():
            return True
        await asyncio.sleep(0.25)
    return condition()


async def test_two_replicas_share_concurrent_parses(replicas: RasaReplicas) -> None:
    first, second = replicas.supervisors
    assert first.url != second.url and first.token == second.token == replicas.token
    # Started in turn: the second model load began only once the first replica answered.
    assert first.started_at is not None and first.ready_after is not None
    assert second.started_at is not None
    if first.restarts == 0:
        assert second.started_at >= first.started_at + first.ready_after
    # Each child got its share of TensorFlow threads (one each on a 2-core machine).
    for sup in replicas.supervisors:
        assert sup.pid is not None
        for name in TF_THREAD_VARIABLES:
            assert f"{name}={replicas.tf_threads}".encode() in environ(sup.pid)

    async with httpx.AsyncClient(trust_env=False) as http, rasa_session() as session:
        client = NluClient(http, replicas, timeout=30.0, cache_size=0, session=session)
        parses = await asyncio.gather(
            *(client.parse(TEXTS[i % len(TEXTS)], NOW) for i in range(16))
        )
        assert all(p.source == "rasa" for p in parses), [p.source for p in parses]
        assert all(p.intent in INTENTS for p in parses)
        assert parses[1].intent == "case_status" and parses[3].intent == "human_handoff"
        stats = client.replica_stats()
        assert {url: s["answered"] for url, s in stats.items()} == {
            first.url: 8,
            second.url: 8,
        }
        status = client.status()
        assert status["engine"] == "rasa"
        assert status["detail"].endswith("(2 of 2 replicas ready)")


async def test_killed_replica_costs_no_rasa_answer_and_comes_back(
    replicas: RasaReplicas,
) -> None:
    """SIGKILL one replica mid-stream: the other answers every parse; the killed one is
    restarted by its supervisor and gets parses again."""
    victim, survivor = replicas.supervisors
    assert await eventually(lambda: replicas.all_ready)
    old_pid = victim.pid
    assert old_pid is not None
    results: list[Parse] = []
    stop = asyncio.Event()

    async with httpx.AsyncClient(trust_env=False) as http, rasa_session() as session:
        client = NluClient(
            http, replicas, timeout=30.0, cache_size=0, backoff=(0.2, 1.0), session=session
        )

        def answered(url: str) -> int:
            return int(client.replica_stats().get(url, {}).get("answered", 0))

        async def stream(offset: int) -> None:
            n = offset
            while not stop.is_set():
                results.append(await client.parse(TEXTS[n % len(TEXTS)], NOW))
                n += 1
                await asyncio.sleep(0.1)

        streams = [asyncio.create_task(stream(i)) for i in range(3)]
        try:
            assert await eventually(lambda: answered(victim.url) > 0 and answered(survivor.url) > 0)
            os.killpg(old_pid, signal.SIGKILL)
            during = len(results)
            assert await eventually(lambda: not victim.ready or victim.pid != old_pid)
            assert await eventually(lambda: victim.ready and victim.pid not in (None, old_pid)), (
                victim.state
            )
            back = answered(victim.url)
            assert await eventually(lambda: answered(victim.url) > back), client.replica_stats()
        finally:
            stop.set()
            await asyncio.gather(*streams)

    assert victim.restarts >= 1 and survivor.restarts == 0
    assert len(results) > during, "parses went on while the replica was down"
    assert [p.source for p in results] == ["rasa"] * len(results)
    assert client.replica_stats()[survivor.url]["failed"] == 0
