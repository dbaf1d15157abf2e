"""NluClient over several Rasa replicas (httpx.MockTransport): which replica gets a parse,
per-replica back-off, and comma-separated ``WEIQUAN_NLU_URL``."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from bot.settings import Settings
from nlu.client import NluClient, Replica, StaticEndpoint
from nlu.replicas import RasaReplicas, default_tf_threads
from nlu.runtime import DeferredEndpoint, open_nlu
from nlu.server import TF_THREAD_VARIABLES, RasaSupervisor
from tests.nlu.test_rasa_client import NOW, Clock, rasa_answer

A, B, C = "http://a.test", "http://b.test", "http://c.test"

Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


def origin(request: httpx.Request) -> str:
    return f"{request.url.scheme}://{request.url.host}"


def client_for(
    handler: Handler, urls: str, clock: Clock | None = None, timeout: float = 5.0
) -> tuple[NluClient, httpx.AsyncClient]:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    client = NluClient(
        http,
        StaticEndpoint(urls, "tok"),
        clock=clock or Clock(),
        backoff=(1.0, 8.0),
        cache_size=0,
        timeout=timeout,
    )
    return client, http


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never became true")


async def test_idle_replicas_take_turns() -> None:
    seen: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(origin(request))
        assert request.url.params["token"] == "tok"
        return httpx.Response(200, json=rasa_answer("你好", "greet"))

    client, http = client_for(handler, f"{A},{B},{C}")
    async with http:
        for _ in range(6):
            assert (await client.parse("你好", NOW)).source == "rasa"
    assert seen == [A, B, C, A, B, C]


async def test_busy_replica_is_passed_over_for_idle_ones() -> None:
    seen: list[str] = []
    release = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(origin(request))
        if origin(request) == A:
            await release.wait()  # a long parse holds replica A
        return httpx.Response(200, json=rasa_answer("你好", "greet"))

    client, http = client_for(handler, f"{A},{B},{C}")
    async with http:
        slow = asyncio.create_task(client.parse("很长的一段话", NOW))
        await until(lambda: seen == [A])
        assert client.replica_stats()[A]["in_flight"] == 1
        for _ in range(6):
            assert (await client.parse("你好", NOW)).source == "rasa"
        assert A not in seen[1:], seen
        assert Counter(seen[1:]) == {B: 3, C: 3}
        release.set()
        assert (await slow).source == "rasa"
    assert client.replica_stats()[A] | {"backoff": 0} == {
        "in_flight": 0,
        "answered": 1,
        "failed": 0,
        "backoff": 0,
        "last_error": None,
    }


async def test_concurrent_parses_spread_evenly() -> None:
    seen: list[str] = []
    release = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(origin(request))
        await release.wait()
        return httpx.Response(200, json=rasa_answer("你好", "greet"))

    client, http = client_for(handler, f"{A},{B}")
    async with http:
        tasks = [asyncio.create_task(client.parse(f"第{i}句", NOW)) for i in range(8)]
        await until(lambda: len(seen) == 8)
        assert Counter(seen) == {A: 4, B: 4}
        assert {s["in_flight"] for s in client.replica_stats().values()} == {4}
        release.set()
        assert all(p.source == "rasa" for p in await asyncio.gather(*tasks))


async def test_failing_replica_is_skipped_while_the_other_serves() -> None:
    clock = Clock()
    calls: Counter[str] = Counter()
    a_down = True

    async def handler(request: httpx.Request) -> httpx.Response:
        calls[origin(request)] += 1
        if origin(request) == A and a_down:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json=rasa_answer("我要投诉", "complain"))

    client, http = client_for(handler, f"{A},{B}", clock)
    async with http:
        # The first parse goes to A, fails, and is answered by B within the same call.
        first = await client.parse("我要投诉", NOW)
        assert (first.source, first.intent) == ("rasa", "complain")
        assert calls == {A: 1, B: 1}
        for _ in range(5):
            assert (await client.parse("我要投诉", NOW)).source == "rasa"
        assert calls == {A: 1, B: 6}, "A is left alone during its back-off"
        status = client.status()
        assert status == {
            "engine": "rasa",
            "detail": f"Rasa answering at {B} (1 of 2 replicas ready)",
        }
        stats = client.replica_stats()
        assert stats[A]["failed"] == 1 and stats[A]["backoff"] == 1.0
        assert "ConnectError" in stats[A]["last_error"]

        a_down = False
        clock.now += 1.5  # past A's back-off
        for _ in range(4):
            assert (await client.parse("我要投诉", NOW)).source == "rasa"
        assert calls[A] >= 2 and client.replica_stats()[A]["answered"] >= 1
        assert client.status()["detail"] == f"Rasa answering at {A}, {B} (2 of 2 replicas ready)"


async def test_back_off_of_one_replica_doubles_on_repeated_failures() -> None:
    """B's answers do not reset A's back-off: only A answering again does."""
    clock = Clock()

    async def handler(request: httpx.Request) -> httpx.Response:
        if origin(request) == A:
            return httpx.Response(500, text="boom")
        return httpx.Response(200, json=rasa_answer("你好", "greet"))

    client, http = client_for(handler, f"{A},{B}", clock)
    async with http:
        pauses = []
        for _ in range(3):
            failed = client.replica_stats().get(A, {}).get("failed", 0)
            for _ in range(3):  # A's turn comes within two parses once its pause is over
                assert (await client.parse("你好", NOW)).source == "rasa"
            assert client.replica_stats()[A]["failed"] == failed + 1
            pauses.append(client.replica_stats()[A]["backoff"])
            clock.now += pauses[-1]
        assert pauses == [1.0, 2.0, 4.0]
        assert client.replica_stats()[B]["failed"] == 0


async def test_no_usable_replica_falls_back_to_rules_without_requests() -> None:
    clock = Clock()
    calls: Counter[str] = Counter()

    async def handler(request: httpx.Request) -> httpx.Response:
        calls[origin(request)] += 1
        raise httpx.ReadTimeout("slow", request=request)

    client, http = client_for(handler, f"{A},{B}", clock)
    async with http:
        parse = await client.parse("查一下TS20261127000042", NOW)
        assert (parse.source, parse.intent) == ("rules", "case_status")
        assert calls == {A: 1, B: 1}, "each replica is tried once within the deadline"
        assert (await client.parse("人工客服", NOW)).source == "rules"
        assert calls == {A: 1, B: 1}, "both back off: no request until a pause ends"
        status = client.status()
        assert status["engine"] == "rules"
        assert "Rasa unreachable (ReadTimeout: slow); retry in 1.0 s" == status["detail"]


async def test_retry_stays_within_the_deadline() -> None:
    calls: Counter[str] = Counter()

    async def handler(request: httpx.Request) -> httpx.Response:
        calls[origin(request)] += 1
        await asyncio.sleep(0.3)
        return httpx.Response(503, text="overloaded")

    client, http = client_for(handler, f"{A},{B},{C}", timeout=0.25)
    async with http:
        assert (await client.parse("你好", NOW)).source == "rules"
    assert sum(calls.values()) == 1


def test_comma_separated_url_lists_every_replica() -> None:
    endpoint = StaticEndpoint(" http://10.0.0.5:5005/ , http://10.0.0.6:5005,,", "t")
    assert endpoint.replicas() == [
        Replica("http://10.0.0.5:5005", "t", True),
        Replica("http://10.0.0.6:5005", "t", True),
    ]
    assert endpoint.ready and endpoint.state == "external"
    assert StaticEndpoint(" , ").replicas() == []
    assert not StaticEndpoint(" , ").ready


async def test_weiquan_nlu_url_with_several_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEIQUAN_NLU_URL", f"{A}:5005,{B}:5005")
    monkeypatch.setenv("WEIQUAN_NLU_TOKEN", "shared")
    seen: list[tuple[str, str]] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append((f"{origin(request)}:{request.url.port}", request.url.params["token"]))
        return httpx.Response(200, json=rasa_answer("谢谢", "thank"))

    settings = Settings()
    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http,
        open_nlu(settings.nlu, http, log_file=settings.data_dir / "rasa.log") as client,
    ):
        for text in ["谢谢", "多谢"]:
            assert (await client.parse(text, NOW)).intent == "thank"
        assert "(2 of 2 replicas ready)" in client.status()["detail"]
    assert seen == [(f"{A}:5005", "shared"), (f"{B}:5005", "shared")]


def test_replica_count_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEIQUAN_NLU_REPLICAS", raising=False)
    assert Settings().nlu.replicas == 2
    monkeypatch.setenv("WEIQUAN_NLU_REPLICAS", "3")
    assert Settings().nlu.replicas == 3
    monkeypatch.setenv("WEIQUAN_NLU_REPLICAS", "0")
    with pytest.raises(ValidationError):
        Settings()


def test_replica_set_before_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in TF_THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    model = tmp_path / "nlu-x.tar.gz"
    replicas = RasaReplicas(
        rasa_python=tmp_path / "python",
        model=model,
        count=3,
        log_file=tmp_path / "log" / "rasa.log",
    )
    sups = replicas.supervisors
    assert len({s.port for s in sups}) == 3
    assert {s.token for s in sups} == {replicas.token}
    assert [s.log_file.name for s in sups if s.log_file] == ["rasa.log", "rasa-2.log", "rasa-3.log"]
    assert replicas.urls == [s.url for s in sups] and replicas.url == sups[0].url
    assert (replicas.state, replicas.ready) == ("stopped", False)
    assert [r.ready for r in replicas.replicas()] == [False, False, False]
    # Three replicas on this machine's cores: a fair share each, at least one thread.
    threads = default_tf_threads(3)
    assert threads is not None and threads >= 1
    env = sups[0].environment()
    assert all(env[name] == str(threads) for name in TF_THREAD_VARIABLES)
    # One process keeps TensorFlow's own default.
    single = RasaSupervisor(rasa_python=tmp_path / "python", model=model)
    assert not set(TF_THREAD_VARIABLES) & set(single.environment())
    with pytest.raises(ValueError, match="at least one"):
        RasaReplicas(rasa_python=tmp_path / "python", model=model, count=0)


async def test_status_while_replicas_are_not_up(tmp_path: Path) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    replicas = RasaReplicas(rasa_python=tmp_path / "python", model=tmp_path / "m.tar.gz")
    deferred = DeferredEndpoint()
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = NluClient(http, deferred)
        assert deferred.replicas() == []
        assert client.status() == {"engine": "rules", "detail": "no Rasa server (training model)"}
        deferred.target = replicas
        assert len(deferred.replicas()) == 2
        assert client.status() == {"engine": "rules", "detail": "Rasa stopped"}
        assert (await client.parse("转人工", NOW)).source == "rules"
