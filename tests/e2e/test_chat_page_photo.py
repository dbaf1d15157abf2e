"""A label photo checked on the web chat page in headless Chromium, read by the real local
reader (RapidOCR in a worker process): "正在识别…" while it is read, then the verdict with its
one-tap report, followed through to a filed report with the certificate number in it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw, ImageFont

from tests.e2e.conftest import server_env, serving
from tests.e2e.test_chat_page import page  # noqa: F401  (the `page` fixture)
from tests.e2e.test_chat_page_flows import cli_case, click, expect, open_chat, say

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.databases("sqlite")]
NUMBER = "2024010914000001"  # well formed; the served instance's registry is empty
FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
# The report's remaining questions (by what the bot asks) once the verdict filled in the
# maker and the facts, and how a person answers them.
REPORT_ANSWERS = [
    ("核对", "click", "确认提交"),  # first: the summary names every field's label too
    ("网店链接", "say", "某电商平台上的店铺"),
    ("什么时间", "say", "2026年11月网上购物时看到"),
    ("自己买到", "click", "不是"),
    ("有照片证据", "click", "完成"),
    ("什么关系", "click", "没有关系（普通消费者或知情人）"),
    ("举报方式", "click", "匿名举报"),
    ("申请举报奖励", "click", "不申请"),  # asked of everyone, anonymous reporters too
]
LINES = [
    "移动电源",
    "型号：PB-2000",
    "额定容量：10000mAh",
    "制造商：杭州正泰科电子有限公司",
    f"CCC证书编号：{NUMBER}",
]


def label_photo(path: Path) -> Path:
    """A printed nameplate as a phone would see it straight on: dark text on a pale label."""
    font = ImageFont.truetype(FONT, 44)
    image = Image.new("RGB", (1100, 520), (246, 244, 238))
    draw = ImageDraw.Draw(image)
    for row, line in enumerate(LINES):
        draw.text((60, 40 + row * 92), line, font=font, fill=(24, 24, 24))
    image.save(path, "JPEG", quality=90)
    return path


@pytest.fixture
def reading_server(tmp_path: Path, db_url: str) -> Iterator[tuple[str, dict[str, str]]]:
    env = server_env(
        tmp_path,
        db_url,
        WEIQUAN_PHOTO_READER="local",
        WEIQUAN_PHOTO_READ_SECONDS="180",  # the first photo loads the models
        WEIQUAN_PHOTO_THREADS="1",
    )
    # A loaded machine (the OCR test shares it) may take longer than usual to start serving.
    with serving(env, tmp_path / "server.log", start_seconds=120) as url:
        yield url, env


def test_a_label_photo_read_for_real_ends_in_a_filed_report(
    reading_server: tuple[str, dict[str, str]],
    page: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect as shows

    url, env = reading_server
    open_chat(page, url)
    expect(click(page, "拍照查验"), "请拍一张照片")
    page.set_input_files("#file", str(label_photo(tmp_path / "label.jpg")))
    shows(page.locator(".msg.bot").last).to_contain_text("正在识别，请稍等")
    shows(page.locator(".reading")).to_have_text("正在识别…")

    verdict = page.locator(".msg.bot.push").last
    shows(verdict).to_contain_text(f"3C证书编号：{NUMBER}", timeout=240_000)
    shows(page.locator(".reading")).to_have_count(0)
    shown = verdict.inner_text()
    expect(shown, "型号：PB-2000", "没有查到这个编号")

    said = click(page, "一键举报（已填好）")
    summary = confirmation = ""
    for _ in range(12):
        step = [(how, answer) for asked, how, answer in REPORT_ANSWERS if asked in said]
        assert step, f"a report step the script does not answer: {said}"
        how, answer = step[0]
        if answer == "确认提交":
            summary = said
        said = say(page, answer) if how == "say" else click(page, answer)
        if "举报已提交" in said:
            confirmation = said
            break
    expect(summary, "杭州正泰科电子有限公司", NUMBER)
    case_no = confirmation.split("编号 ")[1][:16]
    case = cli_case(env, case_no)
    assert case["fields"]["target_name"] == "杭州正泰科电子有限公司"
    assert NUMBER in case["fields"]["facts"]
    assert case["fields"]["violation"] == "forged_cert"
    assert len(case["evidence"]) == 1
