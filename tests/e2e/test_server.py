"""End to end: a real uvicorn server started by the CLI, a complaint over HTTP, read back by the CLI."""

from __future__ import annotations

import json
import subprocess

import httpx
import pytest

from tests.e2e.conftest import WEIQUAN
from tests.factories import COMPLAINT_ANSWERS

pytestmark = pytest.mark.e2e


def test_complaint_over_http_then_cli(server: tuple[str, dict[str, str]]) -> None:
    url, env = server
    with httpx.Client(base_url=url, timeout=10) as http:
        page = http.get("/")
        assert page.status_code == 200 and "维权助手" in page.text
        replies = http.post(
            "/webhooks/rest/webhook", json={"sender": "e2e", "message": "我要投诉"}
        ).json()
        for _ in range(30):
            awaiting = replies[-1]["custom"]["awaiting"]
            if awaiting == "confirm":
                break
            replies = http.post(
                "/webhooks/rest/webhook",
                json={"sender": "e2e", "message": COMPLAINT_ANSWERS[awaiting]},
            ).json()
            if replies[-1]["custom"]["awaiting"] == "demand":
                replies = http.post(
                    "/webhooks/rest/webhook", json={"sender": "e2e", "message": "/done"}
                ).json()
        done = http.post(
            "/webhooks/rest/webhook", json={"sender": "e2e", "message": "/confirm"}
        ).json()
    case_no = done[0]["custom"]["case_no"]
    assert case_no.startswith("TS")

    shown = subprocess.run(
        [WEIQUAN, "cases", "show", case_no, "--json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    case = json.loads(shown.stdout)
    assert case["fields"]["product"] == "充电宝"
    assert case["fields"]["amount"] == 89
    assert case["fields"]["platform"] == "拼多多"
    assert case["fields"]["demand"] == ["refund", "compensation"]
    assert case["personal"] == {
        "name": "王小明",
        "phone": "13612345678",
        "address": "广州市天河区体育西路1号",
    }
    assert case["events"][0]["kind"] == "submitted"

    table = subprocess.run(
        [WEIQUAN, "cases", "show", case_no], env=env, check=True, capture_output=True, text=True
    ).stdout
    for label in (
        "商品",
        "充电宝",
        "手机号",
        "13612345678",
        "投诉请求",
        "退款、赔偿",
        "同意委托调解",
    ):
        assert label in table
    listed = json.loads(
        subprocess.run(
            [WEIQUAN, "cases", "list", "--json"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    assert [c["case_no"] for c in listed] == [case_no]
    missing = subprocess.run(
        [WEIQUAN, "cases", "show", "TS20990101000001"], env=env, capture_output=True, text=True
    )
    assert missing.returncode == 1 and "没有找到" in missing.stderr
