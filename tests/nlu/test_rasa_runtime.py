"""open_nlu: which Rasa the app uses for its settings, and that it never blocks start-up."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from nlu.client import StaticEndpoint
from nlu.replicas import RasaReplicas
from nlu.runtime import DeferredEndpoint, open_nlu
from nlu.train import fingerprint, model_path
from tests.nlu.conftest import NOW


@dataclass
class FakeSettings:
    url: str | None = None
    token: str | None = None
    manage: bool = True
    timeout: float = 0.5
    cache_size: int = 16
    model_dir: Path = Path("models")
    replicas: int = 2
    rasa_python: Path = Path(".venv-rasa/bin/python")


LOG = Path("var/log/rasa.log")


async def test_external_url_is_used_as_is() -> None:
    settings = FakeSettings(url="http://rasa.example:5005", token="t")
    async with httpx.AsyncClient() as http, open_nlu(settings, http, log_file=LOG) as client:
        assert client.endpoint == StaticEndpoint("http://rasa.example:5005", "t")


async def test_unmanaged_without_url_answers_with_rules() -> None:
    settings = FakeSettings(manage=False)
    async with httpx.AsyncClient() as http, open_nlu(settings, http, log_file=LOG) as client:
        parse = await client.parse("转人工", NOW)
        assert (parse.source, parse.intent) == ("rules", "human_handoff")
        assert client.status()["engine"] == "rules"


async def test_missing_model_trains_in_background_and_rules_answer_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An empty model cache: a model trained earlier on this machine must not stand in.
    monkeypatch.setenv("WEIQUAN_NLU_CACHE_DIR", str(tmp_path / "cache"))
    settings = FakeSettings(model_dir=tmp_path / "models", rasa_python=tmp_path / "missing/python")
    log = tmp_path / "var" / "rasa.log"
    async with httpx.AsyncClient() as http, open_nlu(settings, http, log_file=log) as client:
        assert isinstance(client.endpoint, DeferredEndpoint)
        assert (await client.parse("谢谢", NOW)).intent == "thank"
        for _ in range(100):
            await asyncio.sleep(0.05)
            if "failed" in client.status()["detail"]:
                break
        status = client.status()
        assert status["engine"] == "rules"
        assert "training failed" in status["detail"] and "make rasa-venv" in status["detail"]


async def test_managed_rasa_starts_its_replicas_one_after_another(tmp_path: Path) -> None:
    """A stand-in for Rasa that never answers: the second replica waits for the first."""
    never_ready = tmp_path / "python"
    never_ready.write_text("#!/bin/sh\nexec sleep 300\n")
    never_ready.chmod(0o755)
    models = tmp_path / "models"
    models.mkdir()
    model_path(models, fingerprint()).write_bytes(b"")
    settings = FakeSettings(replicas=3, model_dir=models, rasa_python=never_ready)
    log = tmp_path / "var" / "rasa.log"
    async with httpx.AsyncClient() as http, open_nlu(settings, http, log_file=log) as client:
        replicas = client.endpoint
        assert isinstance(replicas, RasaReplicas)
        assert len(replicas.supervisors) == 3
        for _ in range(200):
            await asyncio.sleep(0.05)
            if replicas.pids:
                break
        first = replicas.supervisors[0].pid
        assert first is not None and replicas.pids == [first]
        await asyncio.sleep(0.5)
        assert [s.state for s in replicas.supervisors] == ["starting", "stopped", "stopped"]
        assert client.status() == {"engine": "rules", "detail": "Rasa starting"}
        assert (await client.parse("谢谢", NOW)).source == "rules"
    assert replicas.state == "stopped"
    with pytest.raises(ProcessLookupError):  # the replica did not outlive the app
        os.kill(first, 0)


async def test_missing_rasa_environment_is_reported_and_retried(tmp_path: Path) -> None:
    """`.venv-rasa` gone: the supervisor reports "failed" and keeps retrying, the app runs on."""
    from nlu.server import RasaSupervisor

    model = tmp_path / "nlu-test.tar.gz"
    model.write_bytes(b"not really a model")
    sup = RasaSupervisor(rasa_python=tmp_path / "no-such-python", model=model, backoff=(0.05, 0.1))
    await sup.start()
    try:
        for _ in range(100):
            if sup.state == "failed":
                break
            await asyncio.sleep(0.02)
        assert sup.state == "failed"
        await asyncio.sleep(0.3)  # several retries later the watcher is still alive
        assert sup._task is not None and not sup._task.done()
    finally:
        await sup.stop()
    assert sup.state == "stopped"
