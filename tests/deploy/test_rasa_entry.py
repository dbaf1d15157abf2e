"""The Rasa image's entry point (deploy/rasa_serve.py) and health check, run on this machine:
it serves the trained model with the app's token, and the app finds it by WEIQUAN_NLU_URL."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from nlu.train import ROOT
from tests.deploy.balancer import free_port
from tests.deploy.servers import instance, say
from tests.e2e.conftest import server_env

SERVE = ROOT / "deploy" / "rasa_serve.py"
HEALTHCHECK = ROOT / "deploy" / "healthcheck.py"
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"


def healthy(url: str, token: str) -> bool:
    env = {**os.environ, "WEIQUAN_NLU_TOKEN": token}
    check = subprocess.run([sys.executable, HEALTHCHECK, "--rasa", url], env=env, check=False)
    return check.returncode == 0


def test_without_a_token_it_refuses_to_start(tmp_path: Path) -> None:
    env = {**os.environ, "WEIQUAN_NLU_TOKEN": " ", "RASA_MODEL_DIR": str(tmp_path)}
    run = subprocess.run([sys.executable, SERVE], env=env, capture_output=True, text=True)
    assert run.returncode != 0 and "WEIQUAN_NLU_TOKEN must be set" in run.stderr


def test_without_a_model_it_says_so(tmp_path: Path) -> None:
    env = {**os.environ, "WEIQUAN_NLU_TOKEN": "t", "RASA_MODEL_DIR": str(tmp_path)}
    run = subprocess.run([sys.executable, SERVE], env=env, capture_output=True, text=True)
    assert run.returncode != 0 and f"no model under {tmp_path}" in run.stderr


@pytest.mark.e2e
def test_it_serves_the_model_to_the_app(tmp_path: Path, rasa_model: Path, sqlite_url: str) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # A token may start with "-" (Rasa must not read it as an option).
    token = "-" + secrets.token_urlsafe(16)
    env = {
        **os.environ,
        "WEIQUAN_NLU_TOKEN": token,
        "RASA_PORT": str(port),
        "RASA_MODEL_DIR": str(rasa_model.parent),
    }
    with (tmp_path / "rasa.log").open("wb") as log:
        rasa = subprocess.Popen([RASA_PYTHON, SERVE], env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 600
        while not healthy(url, token):
            assert rasa.poll() is None, (tmp_path / "rasa.log").read_text(errors="replace")
            assert time.monotonic() < deadline, "Rasa did not answer"
            time.sleep(1)
        # On every interface, and only for the token's holder.
        assert not healthy(url, "wrong")
        refused = httpx.post(f"{url}/model/parse", json={"text": "你好"}, trust_env=False)
        assert refused.status_code == 401

        app_env = server_env(
            tmp_path, sqlite_url, WEIQUAN_NLU_URL=f"{url}/", WEIQUAN_NLU_TOKEN=token
        )
        app_port = free_port()
        with instance(app_env, "127.0.0.1", app_port, tmp_path / "app.log"):
            base = f"http://127.0.0.1:{app_port}"
            with httpx.Client(timeout=30, trust_env=False) as http:
                for _ in range(3):
                    assert say(http, base, "u", "你好").status_code == 200
                nlu = http.get(f"{base}/readyz").json()["nlu"]
    finally:
        rasa.terminate()
        rasa.wait(timeout=30)
    assert nlu["engine"] == "rasa"
    assert nlu["detail"].startswith("Rasa answering")
