"""Publishing a typical case in the console, in headless Chromium against a real server, and
reading it on the web chat page."""

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
def editor_server(tmp_path: Path, db_url: str) -> Iterator[str]:
    env = server_env(
        tmp_path,
        db_url,
        WEIQUAN_COOKIE_SECURE="false",
        WEIQUAN_SESSION_SECRET="e2e-session-secret-0123456789",
    )
    subprocess.run(
        [WEIQUAN, "staff", "add", "wang.editor", "--role", "supervisor"],
        input=PASSWORD + "\n",
        text=True,
        env=env,
        check=True,
        capture_output=True,
    )
    with serving(env) as url:
        yield url


@pytest.mark.databases("sqlite")
def test_supervisor_publishes_a_case_that_consumers_then_read(
    editor_server: str,
    browser_page: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    url, page = editor_server, browser_page
    page.goto(url + "/console/")
    page.fill("input[name=username]", "wang.editor")
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.get_by_role("link", name="典型案例").click()
    page.wait_for_selector("#publish-case")

    # A summary with a phone number is refused, and what was typed stays in the form.
    page.select_option("select[name=category]", "chargers")
    page.fill("input[name=title_zh]", "夜市销售无3C充电宝被查处")
    page.fill("input[name=title_en]", "Power banks without CCC seized at a night market")
    page.fill(
        "textarea[name=summary_zh]", "消费者（电话13812345678）反映某夜市摊位销售无3C充电宝。"
    )
    page.fill("textarea[name=summary_en]", "A night-market stall sold power banks without CCC.")
    page.get_by_role("button", name="发布").click()
    page.wait_for_selector(".error >> text=手机号")
    assert page.input_value("input[name=title_zh]") == "夜市销售无3C充电宝被查处"

    page.fill("textarea[name=summary_zh]", "某夜市摊位销售无3C标志的充电宝，已被责令停止销售。")
    page.get_by_role("button", name="发布").click()
    page.wait_for_selector("#typical-cases >> text=夜市销售无3C充电宝被查处")
    assert "已发布" in page.inner_text("#typical-cases")
    page.screenshot(path=str(tmp_path / "typical-cases.png"), full_page=True)

    consumer = page.context.new_page()
    consumer.goto(url + "/")
    consumer.wait_for_selector(".buttons button")
    consumer.fill("#text", "最近有什么典型案例")
    consumer.press("#text", "Enter")
    consumer.wait_for_selector(".msg.bot >> text=夜市销售无3C充电宝被查处", timeout=10_000)
    consumer.screenshot(path=str(tmp_path / "consumer-cases.png"), full_page=True)
