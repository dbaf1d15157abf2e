"""The web chat page in headless Chromium: a complaint filed by clicking and typing like a person."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import WEIQUAN

# The pages behave the same on either database, so these tests run on SQLite only.
# The served path on PostgreSQL is test_server.py's and the cluster's (tests/scale).
pytestmark = [pytest.mark.e2e, pytest.mark.databases("sqlite")]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `make test` installs it (apt package chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        # A phone-sized screen.
        context = browser.new_context(viewport={"width": 390, "height": 780}, locale="zh-CN")
        yield context.new_page()
        context.close()
        browser.close()


def bot_says(page: Any, text: str) -> None:
    """Wait until the last bot bubble shows ``text``. Locator waits, not ``wait_for_function``:
    the page's Content-Security-Policy (no eval) refuses a predicate evaluated in the page."""
    from playwright.sync_api import expect

    expect(page.locator(".msg.bot").last).to_contain_text(text)


def last_bot_text(page: Any) -> str:
    return str(page.locator(".msg.bot").last.inner_text())


def test_complaint_through_the_chat_page(
    server: tuple[str, dict[str, str]], page: Any, tmp_path: Path
) -> None:
    url, env = server
    page.goto(url + "/")
    page.wait_for_selector(".buttons button")
    assert "维权助手" in page.inner_text("header")
    page.get_by_role("button", name="我要投诉").click()
    bot_says(page, "您买的是什么商品")

    def answer(text: str, expect: str) -> None:
        page.fill("#text", text)
        page.press("#text", "Enter")
        bot_says(page, expect)

    answer("在拼多多花了89块买的充电宝", "品牌")
    page.get_by_role("button", name="无品牌/不清楚").last.click()
    bot_says(page, "型号")
    page.get_by_role("button", name="没有型号").last.click()
    bot_says(page, "店铺")
    answer("数码配件小铺", "店铺链接")
    answer("https://shop.example.com/42", "订单号")
    page.get_by_role("button", name="没有订单号").last.click()
    bot_says(page, "哪天买的")
    answer("2026-11-20", "描述遇到的问题")
    answer("没有3C标志，充了两次就鼓包发烫", "怎么处理")
    page.get_by_role("button", name="退款").last.click()
    bot_says(page, "已选")
    page.get_by_role("button", name="选好了").last.click()
    bot_says(page, "照片")
    photo = tmp_path / "fake.png"
    from tests.factories import png_bytes

    photo.write_bytes(png_bytes(3))
    page.set_input_files("#file", str(photo))
    bot_says(page, "第 1 张")
    assert page.locator(".msg.me img").count() == 1
    page.get_by_role("button", name="完成").last.click()
    bot_says(page, "真实姓名")
    answer("赵六", "手机号")
    answer("12345", "格式不对")
    answer("13512345678", "联系地址")
    answer("杭州市西湖区文三路1号", "身份证件")
    page.get_by_role("button", name="暂不提供").last.click()
    bot_says(page, "公示")
    page.get_by_role("button", name="同意").last.click()
    bot_says(page, "委托")
    page.get_by_role("button", name="不同意").last.click()
    bot_says(page, "核对")
    page.screenshot(path=str(tmp_path / "summary.png"), full_page=True)
    page.get_by_role("button", name="确认提交").last.click()
    page.wait_for_selector(".msg.bot.case")
    confirmation = page.locator(".msg.bot.case").inner_text()
    case_no = confirmation.split("编号 ")[1][:16]
    assert case_no.startswith("TS")
    # Earlier buttons can no longer be clicked twice.
    assert page.get_by_role("button", name="确认提交").last.is_disabled()

    shown = subprocess.run(
        [WEIQUAN, "cases", "show", case_no, "--json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    import json

    case = json.loads(shown)
    assert case["fields"]["product"] == "充电宝" and case["fields"]["platform"] == "拼多多"
    assert case["fields"]["amount"] == 89 and case["fields"]["brand"] == ""
    assert case["personal"]["phone"] == "13512345678"
    assert len(case["evidence"]) == 1
