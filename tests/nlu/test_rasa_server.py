"""A real Rasa server: answers, survives hostile input, and dies without hurting the chat."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from nlu.client import NluClient, rasa_session
from nlu.server import RasaSupervisor
from nlu.train import ROOT
from nlu.types import INTENTS
from tests.nlu.conftest import NOW

pytestmark = pytest.mark.slow
session_loop = pytest.mark.asyncio(loop_scope="session")

HOSTILE = [
    "",
    "x" * 10_000,
    "假货" * 5_000,
    "😀😂🤣👍",
    "\x00\x01\x02\x1b[2J\x7f",
    "Привет, где мой заказ?",
    "こんにちは、偽物を買いました",
    "안녕하세요",
    "مرحبا",
    "\u200b\u200e\ufeff",
    "'; DROP TABLE cases; --",
    '{"text": null}',
]


@session_loop
async def test_refuses_requests_without_the_token(rasa_server: RasaSupervisor) -> None:
    async with httpx.AsyncClient(trust_env=False) as http:
        r = await http.post(f"{rasa_server.url}/model/parse", json={"text": "你好"})
    assert r.status_code == 401
    assert rasa_server.url.startswith("http://127.0.0.1:")


@session_loop
async def test_understands_free_text(rasa_server: RasaSupervisor) -> None:
    async with httpx.AsyncClient(trust_env=False) as http, rasa_session() as session:
        client = NluClient(http, rasa_server, timeout=10.0, session=session)
        parse = await client.parse(
            "在拼多多花了89块买的充电宝是假的，我要退款，电话13812345678", NOW
        )
    assert parse.source == "rasa"
    assert parse.intent == "complain"
    assert parse.values("platform") == ["拼多多"]
    assert 89 in parse.values("amount")
    assert parse.values("phone") == ["13812345678"]


@session_loop
@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
async def test_hostile_input_gives_a_valid_parse(rasa_server: RasaSupervisor, text: str) -> None:
    async with httpx.AsyncClient(trust_env=False) as http, rasa_session() as session:
        client = NluClient(http, rasa_server, timeout=10.0, session=session)
        parse = await client.parse(text, NOW)
        assert parse.intent in INTENTS and 0.0 <= parse.confidence <= 1.0
        if text.strip():
            assert parse.source == "rasa", client.status()
        if not any("\u4e00" <= ch <= "\u9fff" for ch in text):
            assert parse.intent == "out_of_scope" or parse.confidence < 0.9, parse
        json.dumps(parse.as_dict(), ensure_ascii=False)


def test_cli_parse_streams_json_lines(rasa_server: RasaSupervisor) -> None:
    lines = [
        "查一下TS20261127000042",
        "证书号２０１６０１０９０１１２３４５６是真的吗",
        "",
        "😀",
        "谢谢",
    ]
    env = dict(os.environ, WEIQUAN_NLU_URL=rasa_server.url, WEIQUAN_NLU_TOKEN=rasa_server.token)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from bot.cli.nlu import app; app()",
            "parse",
            "--now",
            NOW.isoformat(),
        ],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert [o["text"] for o in out] == lines
    assert all(set(o) == {"text", "intent", "confidence", "entities"} for o in out)
    assert out[0]["intent"] == "case_status"
    assert out[0]["entities"] == [
        {"entity": "case_id", "value": "TS20261127000042", "start": 3, "end": 19}
    ]
    assert out[1]["intent"] == "check_ccc_cert"
    assert [e["value"] for e in out[1]["entities"] if e["entity"] == "cert_no"] == [
        "2016010901123456"
    ]
    assert out[4]["intent"] == "thank"


@session_loop
async def test_killed_rasa_degrades_to_rules_and_recovers(rasa_server: RasaSupervisor) -> None:
    """Stopping Rasa mid-conversation: no error, rule answers, then Rasa again by itself."""
    async with httpx.AsyncClient(trust_env=False) as http, rasa_session() as session:
        client = NluClient(
            http, rasa_server, timeout=2.0, cache_size=0, backoff=(0.2, 1.0), session=session
        )
        assert (await client.parse("我要投诉商家", NOW)).source == "rasa"
        old_pid = rasa_server.pid
        assert old_pid is not None
        os.killpg(old_pid, signal.SIGKILL)

        during = await client.parse("查一下TS20261127000042", NOW)
        assert during.source == "rules"
        assert during.intent == "case_status"
        assert client.status()["engine"] == "rules"

        for _ in range(240):  # the supervisor restarts it; cold start is well under 60 s
            await asyncio.sleep(0.5)
            if rasa_server.ready and rasa_server.pid not in (None, old_pid):
                break
        assert rasa_server.ready, rasa_server.state
        assert rasa_server.restarts >= 1
        await asyncio.sleep(1.1)  # past the client's back-off
        after = await client.parse("我要投诉商家", NOW)
        assert after.source == "rasa" and after.intent == "complain"
        assert client.status()["engine"] == "rasa"


@pytest.mark.heavy  # with the other rasa_server tests in one process: about two minutes
def test_cli_eval_writes_reports(rasa_server: RasaSupervisor, tmp_path: Path) -> None:
    env = dict(os.environ, WEIQUAN_NLU_URL=rasa_server.url, WEIQUAN_NLU_TOKEN=rasa_server.token)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from bot.cli.nlu import app; app()",
            "eval",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        cwd=ROOT,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["intent_accuracy"] >= 0.9 and summary["intent_macro_f1"] >= 0.9
    assert {"cert_no", "case_id", "phone"} <= set(summary["entity_f1"]["RegexEntityExtractor"])
    assert summary["app"]["value_accuracy"]["cert_no"]["n"] >= 10
    assert (tmp_path / "intent_confusion_matrix.png").stat().st_size > 1000
    assert "intent accuracy" in done.stdout


@session_loop
async def test_hung_rasa_is_killed_and_replaced(rasa_server: RasaSupervisor) -> None:
    """A Rasa that is alive but answers nothing (SIGSTOP) is treated like a dead one."""
    old_pid = rasa_server.pid
    assert old_pid is not None and rasa_server.ready
    os.kill(old_pid, signal.SIGSTOP)
    try:
        for _ in range(360):
            await asyncio.sleep(0.5)
            if rasa_server.ready and rasa_server.pid not in (None, old_pid):
                break
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(old_pid, signal.SIGCONT)
    assert rasa_server.ready and rasa_server.pid != old_pid, rasa_server.state
    with pytest.raises(ProcessLookupError):
        os.kill(old_pid, 0)
