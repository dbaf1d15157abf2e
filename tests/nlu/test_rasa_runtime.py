"""open_nlu: which Rasa the app uses for its settings, and that it never blocks start-up."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import httpx

from nlu.client import StaticEndpoint
from nlu.runtime import DeferredEndpoint, open_nlu
from tests.nlu.conftest import NOW


@dataclass
class FakeSettings:
    nlu_url: str | None = None
    nlu_token: str | None = None
    nlu_manage: bool = True
    nlu_timeout: float = 0.5
    nlu_cache_size: int = 16
    nlu_model_dir: Path = Path("models")
    rasa_python: Path = Path(".venv-rasa/bin/python")
    data_dir: Path = Path("var")


async def test_external_url_is_used_as_is() -> None:
    settings = FakeSettings(nlu_url="http://rasa.example:5005", nlu_token="t")
    async with httpx.AsyncClient() as http, open_nlu(settings, http) as client:
        assert client.endpoint == StaticEndpoint("http://rasa.example:5005", "t")


async def test_unmanaged_without_url_answers_with_rules() -> None:
    settings = FakeSettings(nlu_manage=False)
    async with httpx.AsyncClient() as http, open_nlu(settings, http) as client:
        parse = await client.parse("转人工", NOW)
        assert (parse.source, parse.intent) == ("rules", "human_handoff")
        assert client.status()["engine"] == "rules"


async def test_missing_model_trains_in_background_and_rules_answer_meanwhile(
    tmp_path: Path,
) -> None:
    settings = FakeSettings(
        nlu_model_dir=tmp_path / "models",
        rasa_python=tmp_path / "missing/python",
        data_dir=tmp_path / "var",
    )
    async with httpx.AsyncClient() as http, open_nlu(settings, http) as client:
        assert isinstance(client.endpoint, DeferredEndpoint)
        assert (await client.parse("谢谢", NOW)).intent == "thank"
        for _ in range(100):
            await asyncio.sleep(0.05)
            if "failed" in client.status()["detail"]:
                break
        status = client.status()
        assert status["engine"] == "rules"
        assert "training failed" in status["detail"] and "make rasa-venv" in status["detail"]
