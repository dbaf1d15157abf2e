"""The staff console in headless Chromium against a real server: a day's work in miniature."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import WEIQUAN, server_env, serving
from tests.e2e.test_chat_page import ARGS, CHROMIUM

# The pages behave the same on either database, so these tests run on SQLite only.
# The served path on PostgreSQL is test_server.py's and the cluster's (tests/scale).
pytestmark = [pytest.mark.e2e, pytest.mark.databases("sqlite")]
PASSWORD = "correct horse battery"


def _submit_case(env: dict[str, str]) -> str:
    from bot.backoffice import Handoff
    from bot.cases import Filer, submit
    from bot.crypto import keyring_from_settings
    from bot.db.engine import make_engine, make_sessionmaker
    from bot.db.models import Conversation
    from bot.settings import Settings
    from dialogues.actions import SubmitCase

    # Encrypt with the server's key (the key file under its data directory).
    keyring = keyring_from_settings(Settings(data_dir=Path(env["WEIQUAN_DATA_DIR"])))

    async def run() -> str:
        engine = make_engine(env["WEIQUAN_DATABASE_URL"], keyring=keyring)
        now = datetime.now(UTC)
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                conversation = Conversation(
                    channel="rest",
                    sender_id="web-case",
                    locale="zh",
                    state={},
                    created_at=now,
                    updated_at=now,
                )
                session.add(conversation)
                await session.flush()
                filer = Filer(conversation.id, "rest", "web-case", "zh", now)
                action = SubmitCase(
                    kind="complaint",
                    fields={
                        "product": "充电宝",
                        "platform": "拼多多",
                        "merchant": "数码配件小铺",
                        "amount": 89,
                    },
                    personal={"name": "赵六", "phone": "13512345678", "address": "杭州市"},
                )
                receipt = await session.run_sync(submit, filer, action, handoff=Handoff())
                return receipt.case_no
        finally:
            await engine.dispose()

    # Playwright's sync API owns this thread's event loop: write from another thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, run()).result()


@pytest.fixture
def console_server(tmp_path: Path, db_url: str) -> Iterator[tuple[str, dict[str, str]]]:
    env = server_env(
        tmp_path,
        db_url,
        WEIQUAN_COOKIE_SECURE="false",  # plain http on 127.0.0.1 in the test
        WEIQUAN_SESSION_SECRET="e2e-session-secret-0123456789",
    )
    subprocess.run(
        [WEIQUAN, "staff", "add", "li.agent", "--role", "agent"],
        input=PASSWORD + "\n",
        text=True,
        env=env,
        check=True,
        capture_output=True,
    )
    with serving(env) as url:
        yield url, env


@pytest.fixture
def browser_page() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `make test` installs it (apt package chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        yield context.new_page()
        context.close()
        browser.close()


def test_staff_day_in_the_console(
    console_server: tuple[str, dict[str, str]], browser_page: Any, tmp_path: Path
) -> None:
    url, env = console_server
    page = browser_page
    case_no = _submit_case(env)

    # A consumer on the web chat page asks for a person.
    consumer = page.context.new_page()
    consumer.goto(url + "/")
    consumer.wait_for_selector(".buttons button")
    consumer.add_script_tag(url=url + "/console/static/chat-pushes.js")
    consumer.fill("#text", "转人工")
    consumer.press("#text", "Enter")
    consumer.wait_for_selector(".msg.bot >> text=排队")

    page.goto(url + "/console/")
    page.fill("input[name=username]", "li.agent")
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_selector("#queue")
    assert "用户要求" in page.inner_text("#queue")
    page.get_by_role("button", name="接入").first.click()
    page.wait_for_selector("#reply-text")
    page.fill("#reply-text", "您好，我是客服小李，请问有什么可以帮您？")
    page.get_by_role("button", name="发送").click()
    page.wait_for_selector(".msg.staff >> text=我是客服小李")

    # The consumer is told a person joined and sees the reply; their answer reaches the
    # staff page without a reload, and the bot stays quiet meanwhile.
    consumer.wait_for_selector(".msg.push >> text=工作人员已接入", timeout=10_000)
    consumer.wait_for_selector(".msg.push >> text=我是客服小李", timeout=10_000)
    bot_replies = consumer.locator(".msg.bot:not(.push)").count()
    consumer.fill("#text", "充电宝鼓包了，商家不退款")
    consumer.press("#text", "Enter")
    page.wait_for_selector(".msg.in >> text=充电宝鼓包了", timeout=10_000)
    assert consumer.locator(".msg.bot:not(.push)").count() == bot_replies
    page.screenshot(path=str(tmp_path / "conversation.png"), full_page=True)
    consumer.screenshot(path=str(tmp_path / "consumer.png"), full_page=True)

    page.get_by_role("link", name="案件").click()
    page.wait_for_selector("#cases")
    page.get_by_role("link", name=case_no).click()
    page.wait_for_selector("#transitions")
    assert "13512345678" in page.inner_text("#personal")
    page.get_by_role("button", name="已受理").click()
    page.wait_for_selector("#case-status >> text=已受理")
    assert "已受理" in page.inner_text("#timeline")
    page.screenshot(path=str(tmp_path / "case.png"), full_page=True)

    page.get_by_role("link", name="统计看板").click()
    page.wait_for_selector("#chart-intake svg.chart")
    heights = page.eval_on_selector_all(
        "#chart-intake rect.bar", "bars => bars.map(b => b.getBoundingClientRect().height)"
    )
    assert len(heights) == 30 and max(heights) > 10  # today's case draws a visible bar
    for chart in ("intake", "kind", "category", "platform", "merchants"):
        assert page.locator(f"#chart-{chart} svg.chart").count() == 1, chart
    # The hotspots: the complained-about shop leads the businesses by complaints.
    assert "数码配件小铺" in page.inner_text("#hot-complaints")
    assert "数码配件小铺" in page.locator("#chart-merchants svg").text_content()
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
