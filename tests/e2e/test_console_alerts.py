"""Publishing a consumer alert in the console, in headless Chromium against a real server: a
web chat user subscribes, the supervisor fills in the form (a bad link refused, what was typed
kept), publishes, and watches the progress and the counts per channel while the subscriber's
open chat page receives the alert through its pushes."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import WEIQUAN, server_env, serving
from tests.e2e.test_console import PASSWORD, browser_page  # noqa: F401  (fixture)

pytestmark = pytest.mark.e2e


@pytest.fixture
def supervisor_server(tmp_path: Path, db_url: str) -> Iterator[str]:
    env = server_env(
        tmp_path,
        db_url,
        WEIQUAN_COOKIE_SECURE="false",
        WEIQUAN_SESSION_SECRET="e2e-session-secret-0123456789",
    )
    subprocess.run(
        [WEIQUAN, "staff", "add", "li.supervisor", "--role", "supervisor"],
        input=PASSWORD + "\n",
        text=True,
        env=env,
        check=True,
        capture_output=True,
    )
    # Starting took over 90 s beside other test processes on the shared 2-core machine.
    with serving(env, start_seconds=400) as url:
        yield url


@pytest.mark.databases("sqlite")
def test_supervisor_publishes_an_alert_and_sees_it_reach_the_subscriber(
    supervisor_server: str,
    browser_page: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    url, page = supervisor_server, browser_page
    consumer = page.context.new_page()
    consumer.goto(url + "/")
    consumer.wait_for_selector(".buttons button")
    consumer.fill("#text", "订阅充电宝的安全提醒")
    consumer.press("#text", "Enter")
    consumer.wait_for_selector(".msg.bot >> text=已订阅")

    page.goto(url + "/console/")
    page.fill("input[name=username]", "li.supervisor")
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.goto(url + "/console/alerts")
    page.wait_for_selector("#publish-alert")
    assert "还没有发布的预警" in page.inner_text("#alerts")

    page.select_option("select[name=category]", "chargers")
    page.fill("input[name=title_zh]", "某型号充电宝召回")
    page.fill("input[name=title_en]", "A power bank model recalled")
    page.fill("textarea[name=text_zh]", "该型号充电宝可能过热起火，请停止使用并联系商家退货。")
    page.fill("textarea[name=text_en]", "This power bank may overheat; stop using it.")
    page.fill("input[name=regions]", "广东")
    page.fill("input[name=valid_from]", "2026-12-01")
    page.fill("input[name=valid_until]", "2027-03-01")
    # The browser checks the link's shape itself; one it lets through but we refuse comes back.
    page.fill("input[name=source_url]", "ftp://www.samr.gov.cn/recall")
    page.get_by_role("button", name="发布并发送").click()
    page.wait_for_selector(".error >> text=来源链接")
    assert page.input_value("input[name=title_zh]") == "某型号充电宝召回"

    page.fill("input[name=source_url]", "https://www.samr.gov.cn/zlfzj/")
    page.get_by_role("button", name="发布并发送").click()
    page.wait_for_selector("#alerts >> text=某型号充电宝召回")
    # The page refreshes itself while the alert is being sent, until it shows it finished.
    page.wait_for_selector("#alerts .state >> text=已发完（共 1 人）", timeout=20_000)
    row = page.locator("#alerts tbody tr").first
    assert row.locator("td.queued").inner_text() == "1"
    assert row.locator("td.sent").inner_text() == "1"
    assert row.locator("td.blocked").inner_text() == "0"
    web = row.locator(".channels [data-channel=rest]")
    assert "网页聊天" in web.inner_text() and web.locator(".sent").inner_text() == "1"
    page.screenshot(path=str(tmp_path / "alerts.png"), full_page=True)

    # The subscriber's open page gets it through its pushes, without reloading.
    consumer.wait_for_selector(".msg >> text=某型号充电宝召回", timeout=10_000)
    assert "有效期至 2027-03-01" in consumer.inner_text("#log")
    consumer.screenshot(path=str(tmp_path / "consumer-alert.png"), full_page=True)
