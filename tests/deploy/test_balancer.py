"""deploy/nginx.conf in front of real app instances: clients are told apart by their own
address, the app is found by name with one address per instance, and a conversation goes
on whichever instance answers, and when one of them is down."""

from __future__ import annotations

import json
import subprocess
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from bot.crypto import new_key_text
from tests.deploy import balancer
from tests.deploy.servers import instance, say
from tests.e2e.conftest import WEIQUAN, server_env
from tests.factories import COMPLAINT_ANSWERS

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(balancer.NGINX is None, reason=balancer.NO_NGINX),
]


def nginx_values(tmp_path: Path, app_address: str, resolver: str = "127.0.0.1") -> dict[str, str]:
    return {
        "APP_ADDRESS": app_address,
        "DNS_RESOLVER": resolver,
        "TLS_DIR": str(balancer.certificate(tmp_path / "certs")),
        "HTTP_PORT": str(balancer.free_port()),
        "HTTPS_PORT": str(balancer.free_port()),
    }


def test_each_client_is_limited_by_its_own_address(tmp_path: Path, sqlite_url: str) -> None:
    env = server_env(
        tmp_path,
        sqlite_url,
        WEIQUAN_RATE_LIMIT_ADDRESS_BURST="3",
        WEIQUAN_RATE_LIMIT_ADDRESS_PER_MINUTE="0.01",
        FORWARDED_ALLOW_IPS="127.0.0.1",
    )
    port = balancer.free_port()
    with instance(env, "127.0.0.1", port, tmp_path / "app.log"):
        values = nginx_values(tmp_path, f"127.0.0.1:{port}")
        with balancer.running(tmp_path / "nginx", values):
            base = f"https://127.0.0.1:{values['HTTPS_PORT']}"
            certs = Path(values["TLS_DIR"])
            with (
                balancer.client(certs, "127.0.0.2") as first,
                balancer.client(certs, "127.0.0.3") as second,
            ):
                answers = [say(first, base, f"a{n}", "你好").status_code for n in range(3)]
                assert answers == [200, 200, 200]
                refused = say(first, base, "a3", "你好")
                assert refused.status_code == 429 and refused.json()["error"] == "rate_limited"
                # A client cannot pass for another by sending the header itself.
                spoofed = first.post(
                    f"{base}/webhooks/rest/webhook",
                    json={"sender": "a4", "message": "你好"},
                    headers={"X-Forwarded-For": "203.0.113.9"},
                )
                assert spoofed.status_code == 429
                # Another person behind the same nginx still gets answers.
                assert say(second, base, "b0", "你好").status_code == 200
                # Plain http is sent to https.
                plain = httpx.get(f"http://127.0.0.1:{values['HTTP_PORT']}/", trust_env=False)
                assert plain.status_code == 301
                assert plain.headers["location"].startswith("https://")


def test_uploads_get_the_apps_answers_through_nginx(tmp_path: Path, sqlite_url: str) -> None:
    """A body within the app's limit reaches the app; a larger one is refused as the app
    refuses it (JSON), not with a proxy error page."""
    port = balancer.free_port()
    with instance(server_env(tmp_path, sqlite_url), "127.0.0.1", port, tmp_path / "app.log"):
        values = nginx_values(tmp_path, f"127.0.0.1:{port}")
        with balancer.running(tmp_path / "nginx", values):
            with balancer.client(Path(values["TLS_DIR"])) as http:

                def upload(size: int) -> httpx.Response:
                    return http.post(
                        f"https://127.0.0.1:{values['HTTPS_PORT']}/webhooks/rest/upload",
                        data={"sender": "big"},
                        files={"file": ("photo.jpg", b"\xff" * size, "image/jpeg")},
                    )

                within = upload(9 * 1024 * 1024)
                beyond = upload(13 * 1024 * 1024)
    # Read by the app: not a picture, said in the app's words.
    assert within.status_code == 415, within.text
    assert within.json()["error"] == "not_an_image"
    assert beyond.status_code == 413
    assert beyond.headers["content-type"] == "application/json"
    assert beyond.json()["error"] == "too_large"


@pytest.mark.postgres
def test_instances_behind_one_name_share_the_conversation(
    tmp_path: Path, postgres_url: str
) -> None:
    hosts = ["127.0.0.21", "127.0.0.22"]
    port = balancer.free_port(hosts[0])
    env = server_env(tmp_path, postgres_url, WEIQUAN_PII_KEY=new_key_text())
    with ExitStack() as stack:
        stops = [stack.enter_context(ExitStack()) for _ in hosts]
        for host, stop in zip(hosts, stops, strict=True):
            stop.enter_context(instance(env, host, port, tmp_path / f"{host}.log"))
        names = stack.enter_context(balancer.NameServer("app.weiquan.test", hosts))
        values = nginx_values(tmp_path, f"app.weiquan.test:{port}", f"127.0.0.1:{names.port}")
        access = stack.enter_context(balancer.running(tmp_path / "nginx", values))
        base = f"https://127.0.0.1:{values['HTTPS_PORT']}"
        http = stack.enter_context(balancer.client(Path(values["TLS_DIR"])))

        replies = say(http, base, "mobile", "我要投诉").json()
        for _ in range(30):
            awaiting = replies[-1]["custom"]["awaiting"]
            if awaiting == "confirm":
                break
            replies = say(http, base, "mobile", COMPLAINT_ANSWERS[awaiting]).json()
            if replies[-1]["custom"]["awaiting"] == "demand":
                replies = say(http, base, "mobile", "/done").json()
        case_no = say(http, base, "mobile", "/confirm").json()[0]["custom"]["case_no"]
        for _ in range(20):
            assert http.get(f"{base}/healthz").status_code == 200
        # nginx used every address the name has.
        used = {line.split()[2].rsplit(":", 1)[0] for line in access.read_text().splitlines()}
        assert used == set(hosts)

        # One instance goes away: every request is still answered, by the other.
        stops[0].close()
        for n in range(10):
            assert say(http, base, f"after{n}", "你好").status_code == 200

    shown = subprocess.run(
        [WEIQUAN, "cases", "show", case_no, "--json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    case = json.loads(shown.stdout)
    assert case["fields"]["product"] == COMPLAINT_ANSWERS["product"]
    assert case["personal"]["phone"] == COMPLAINT_ANSWERS["phone"]
