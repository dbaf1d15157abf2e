"""Schema fuzzing: every operation of the OpenAPI document against a real server, every role.

Each run starts ``weiquan serve`` on SQLite and on PostgreSQL, files a real complaint and a
hand-over request over the chat, signs in one member of each role, then lets schemathesis
generate requests for every operation (valid and invalid ones, with generated and with real
path parameters), sent anonymously and as agent, supervisor and admin. Any 5xx, any error
without the project's JSON error body, or any request left unanswered fails the run.

``WEIQUAN_FUZZ_EXAMPLES`` sets the examples per operation and generation mode (CI: a few
thousand requests a database; ``make fuzz``: longer). Figures go to ``reports/security/``.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookiejar import DefaultCookiePolicy
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode

from tests.e2e.conftest import WEIQUAN, server_env, serving
from tests.factories import COMPLAINT_ANSWERS

pytestmark = [pytest.mark.e2e, pytest.mark.fuzz, pytest.mark.heavy]

EXAMPLES = int(os.environ.get("WEIQUAN_FUZZ_EXAMPLES", "12"))
PASSWORD = "fuzzing horse battery staple"
ROLES = ("agent", "supervisor", "admin")
REPORTS = Path(__file__).resolve().parents[2] / "reports" / "security"


@dataclass
class Tally:
    """What the run saw: counts by status, the slowest answer, and every failure."""

    requests: int = 0
    cases: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    slowest: tuple[float, str] = (0.0, "")
    failures: list[str] = field(default_factory=list)

    def see(self, label: str, status: int, elapsed: float, body: bytes, ctype: str) -> None:
        self.requests += 1
        self.by_status[status] = self.by_status.get(status, 0) + 1
        if elapsed > self.slowest[0]:
            self.slowest = (elapsed, label)
        if status >= 500:
            self.failures.append(f"{label} -> {status}: {body[:300]!r}")
        elif status >= 400 and "json" in ctype:
            parsed = json.loads(body)
            if not (isinstance(parsed, dict) and {"error", "message"} <= parsed.keys()):
                self.failures.append(f"{label} -> {status} without an error body: {body[:300]!r}")


def _staff_env(env: dict[str, str]) -> None:
    for role in ROLES:
        subprocess.run(
            [WEIQUAN, "staff", "add", f"fuzz-{role}", "--role", role],
            env=env,
            input=PASSWORD + "\n",
            text=True,
            check=True,
            capture_output=True,
        )


def _file_complaint(http: httpx.Client, sender: str) -> str:
    """A real complaint through the chat, so path parameters can name something that exists."""
    say = lambda text: http.post(  # noqa: E731
        "/webhooks/rest/webhook", json={"sender": sender, "message": text}
    ).json()
    replies = say("我要投诉")
    for _ in range(30):
        awaiting = replies[-1]["custom"]["awaiting"]
        if awaiting == "confirm":
            break
        replies = say(COMPLAINT_ANSWERS[awaiting])
        if replies[-1]["custom"]["awaiting"] == "demand":
            replies = say("/done")
    done = say("/confirm")
    case_no: str = done[0]["custom"]["case_no"]
    say("转人工")
    return case_no


def _real_parameters(http: httpx.Client, headers: dict[str, str], case_no: str) -> dict[str, Any]:
    queue = http.get("/api/v1/queue", headers=headers).json()
    items = queue.get("items", queue) if isinstance(queue, dict) else queue
    request_id = items[0]["id"] if items else 1
    return {"case_no": case_no, "request_id": request_id, "sha256": "0" * 64}


@pytest.fixture
def fuzz_server(tmp_path: Path, db_url: str) -> Iterator[tuple[str, dict[str, str]]]:
    env = server_env(
        tmp_path,
        db_url,
        WEIQUAN_ENVIRONMENT="test",
        # The fuzzer is one client on one address: generous limits, so requests reach the
        # routes behind them instead of all being refused early (the limits have own tests).
        WEIQUAN_RATE_LIMIT_ENABLED="false",
    )
    with serving(env, log_path=tmp_path / "server.log") as url:
        yield url, env


def test_every_operation_every_role(
    fuzz_server: tuple[str, dict[str, str]], db_url: str, tmp_path: Path
) -> None:
    url, env = fuzz_server
    _staff_env(env)
    tally = Tally()
    with httpx.Client(base_url=url, timeout=30) as http:
        case_no = _file_complaint(http, "fuzz-consumer")
        headers: dict[str, dict[str, str]] = {"anonymous": {}}
        for role in ROLES:
            r = http.post(
                "/api/v1/auth/token", json={"username": f"fuzz-{role}", "password": PASSWORD}
            )
            assert r.status_code == 200, r.text
            headers[role] = {"Authorization": f"Bearer {r.json()['access_token']}"}
        real = _real_parameters(http, headers["supervisor"], case_no)

    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    # The token route last: its wrong-password answers lock the fuzzing address out.
    operations.sort(key=lambda op: op.path == "/api/v1/auth/token")
    assert len(operations) >= 20, [op.path for op in operations]
    # One connection for the run, as a client keeps it; cookies refused, so no answer's
    # cookie rides along with a later request (each sends only its role's token).
    connection = requests.Session()
    connection.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    started = time.monotonic()
    for operation in operations:
        path_names = {p.name for p in operation.path_parameters}
        pinned = {k: v for k, v in real.items() if k in path_names}
        variants: list[dict[str, Any]] = [{}]
        if pinned:
            variants.append({"path_parameters": pinned})
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            for variant in variants:
                strategy = operation.as_strategy(generation_mode=mode, **variant)

                @hypothesis.settings(
                    max_examples=EXAMPLES,
                    deadline=None,
                    database=None,
                    phases=[Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
                @hypothesis.given(case=strategy)
                def send(case: schemathesis.Case) -> None:
                    tally.cases += 1
                    for role, auth in headers.items():
                        label = f"{role} {case.method} {case.formatted_path}"
                        try:
                            response = case.call(
                                base_url=url, session=connection, headers=dict(auth), timeout=30
                            )
                        except (httpx.HTTPError, OSError) as exc:  # the server hung up or hung
                            tally.failures.append(f"{label} -> no answer: {exc!r}")
                            continue
                        tally.see(
                            label,
                            response.status_code,
                            response.elapsed,
                            response.content or b"",
                            response.headers.get("content-type", [""])[0],
                        )

                try:
                    send()
                except hypothesis.errors.Unsatisfiable:
                    # An operation with nothing to get wrong (no parameters, no body) has no
                    # invalid requests to generate.
                    assert mode is GenerationMode.NEGATIVE, operation.path
    seconds = time.monotonic() - started
    connection.close()
    with httpx.Client(base_url=url, timeout=10) as http:
        assert http.get("/healthz").status_code == 200, "the server did not survive the run"

    database = "postgresql" if db_url.startswith("postgresql") else "sqlite"
    REPORTS.mkdir(parents=True, exist_ok=True)
    summary = {
        "database": database,
        "operations": len(operations),
        "examples_per_mode": EXAMPLES,
        "cases": tally.cases,
        "requests": tally.requests,
        "by_status": dict(sorted(tally.by_status.items())),
        "responses_5xx": sum(n for s, n in tally.by_status.items() if s >= 500),
        "slowest_seconds": round(tally.slowest[0], 3),
        "slowest_request": tally.slowest[1],
        "run_seconds": round(seconds, 1),
        "failures": tally.failures[:50],
    }
    (REPORTS / f"fuzz-{database}.json").write_text(
        json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    assert not tally.failures, "\n".join(tally.failures[:20])
    server_log = (tmp_path / "server.log").read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in server_log, server_log[-5000:]
    assert tally.requests >= len(operations) * len(headers)
