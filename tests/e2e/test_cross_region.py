"""End to end, across regions: a consumer in Guangzhou complains in the web chat about a shop
registered in Hangzhou; the case is routed to the seller's county office, whose agent finds
the shop operates in Chengdu and forwards it there from the console; the consumer's status
question then says where the case is and that its clock restarted. A real server, real HTTP."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import WEIQUAN, server_env, serving
from tests.factories import COMPLAINT_ANSWERS

pytestmark = pytest.mark.e2e
PASSWORD = "correct horse battery"
CHENGDU_WUHOU = "成都市武侯区市场监督管理局（示例 SAMPLE）"
ANSWERS = {**COMPLAINT_ANSWERS, "merchant_address": "浙江省杭州市西湖区文三路100号"}


@pytest.fixture
def cross_region_server(tmp_path: Path, db_url: str) -> Iterator[str]:
    env = server_env(
        tmp_path,
        db_url,
        WEIQUAN_COOKIE_SECURE="false",  # plain http on 127.0.0.1 in the test
        WEIQUAN_SESSION_SECRET="e2e-session-secret-0123456789",
    )
    subprocess.run(
        [WEIQUAN, "staff", "add", "hz.agent", "--role", "agent", "--office", "hz-xihu"],
        input=PASSWORD + "\n",
        text=True,
        env=env,
        check=True,
        capture_output=True,
    )
    with serving(env) as url:
        yield url


def say(http: httpx.Client, text: str) -> list[dict[str, object]]:
    r = http.post("/webhooks/rest/webhook", json={"sender": "gz-consumer", "message": text})
    assert r.status_code == 200, r.text
    replies: list[dict[str, object]] = r.json()
    return replies


def awaiting(replies: list[dict[str, object]]) -> str:
    custom = replies[-1]["custom"]
    assert isinstance(custom, dict)
    return str(custom.get("awaiting"))


def test_a_complaint_about_a_seller_elsewhere_is_routed_forwarded_and_traced(
    cross_region_server: str,
) -> None:
    with httpx.Client(base_url=cross_region_server, timeout=30) as chat:
        replies = say(chat, "我要投诉")
        for _ in range(30):
            step = awaiting(replies)
            if step == "confirm":
                break
            replies = say(chat, ANSWERS[step])
            if awaiting(replies) == "demand":
                replies = say(chat, "/done")
        done = say(chat, "/confirm")
        custom = done[0]["custom"]
        assert isinstance(custom, dict)
        case_no = str(custom["case_no"])

        with httpx.Client(base_url=cross_region_server, timeout=30) as console:
            login = console.get("/console/login")
            token = re.search(r'name="csrf" value="([^"]+)"', login.text)
            assert token
            signed = console.post(
                "/console/login",
                data={"username": "hz.agent", "password": PASSWORD, "csrf": token.group(1)},
            )
            assert signed.status_code == 303
            # Routed to the seller's county office: its agent has it.
            page = console.get(f"/console/cases/{case_no}")
            assert page.status_code == 200, page.text
            assert "hz-xihu" in page.text and "330106" in page.text
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert csrf and 'id="forward"' in page.text
            forwarded = console.post(
                f"/console/cases/{case_no}/forward",
                data={
                    "csrf": csrf.group(1),
                    "office": "cd-wuhou",
                    "reason": "seller_elsewhere",
                    "note": "店铺实际在成都武侯区经营",
                },
            )
            assert forwarded.status_code == 200 and "已移送至" + CHENGDU_WUHOU in forwarded.text
            assert console.get(f"/console/cases/{case_no}").status_code == 404

        # The consumer on the web is told at their next visit, and asks where it is.
        pushes = chat.get("/webhooks/rest/pushes", params={"sender": "gz-consumer"}).json()
        told = " ".join(str(p.get("text", "")) for p in pushes)
        assert CHENGDU_WUHOU in told and "一般在 7 个工作日内" in told
        answer = " ".join(str(r["text"]) for r in say(chat, "我的投诉到哪了"))
    assert case_no in answer and "已移送其他单位" in answer
    assert f"移送至{CHENGDU_WUHOU}" in answer and "期限自该单位收到之日起重新计算" in answer
