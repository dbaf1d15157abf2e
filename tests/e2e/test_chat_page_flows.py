"""Issue 5 through the web chat page in headless Chromium, against the real server.

A tip-off report with three photos and a reward request, a status question, a CCC question
asked in the middle of a complaint, and a handover request: clicked and typed like a person.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import WEIQUAN
from tests.e2e.test_chat_page import page  # noqa: F401  (the Chromium page fixture)
from tests.factories import png_bytes

# The pages behave the same on either database, so these tests run on SQLite only.
# The served path on PostgreSQL is test_server.py's and the cluster's (tests/scale).
pytestmark = [pytest.mark.e2e, pytest.mark.databases("sqlite")]

VALID_ID = "11010519491231002X"  # the published sample number; its check digit is right
BAD_ID = "110105194912310021"  # the same number with a wrong check digit
BOT = ".msg.bot:not(.push)"


def replies_to(tab: Any, act: Any) -> str:
    """Do ``act`` (a click, a typed message, an upload) and return the bot's new bubbles."""
    before = tab.locator(BOT).count()
    act()
    # The reply has been rendered once there are more bot bubbles than before and no
    # "正在输入…" indicator is left (render() runs before the indicator goes). Locator waits:
    # the page's Content-Security-Policy refuses predicates evaluated in the page.
    tab.locator(BOT).nth(before).wait_for(timeout=15_000)
    tab.locator(".typing").wait_for(state="detached", timeout=15_000)
    return "\n".join(tab.locator(BOT).all_inner_texts()[before:])


def say(tab: Any, text: str) -> str:
    def act() -> None:
        tab.fill("#text", text)
        tab.press("#text", "Enter")

    return replies_to(tab, act)


def click(tab: Any, name: str) -> str:
    button = tab.get_by_role("button", name=name, exact=True).last
    assert button.is_enabled(), f"button {name!r} is not clickable"
    return replies_to(tab, button.click)


def upload(tab: Any, photo: Path) -> str:
    return replies_to(tab, lambda: tab.set_input_files("#file", str(photo)))


def expect(reply: str, *shown: str) -> str:
    for text in shown:
        assert text in reply, f"{text!r} missing from the bot's reply:\n{reply}"
    return reply


def open_chat(tab: Any, url: str) -> None:
    tab.goto(url + "/")
    tab.wait_for_selector(".buttons button")
    assert "维权助手" in tab.inner_text("header")


def cli_case(env: dict[str, str], case_no: str) -> dict[str, Any]:
    shown = subprocess.run(
        [WEIQUAN, "cases", "show", case_no, "--json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(json.loads(shown))


def test_report_with_three_photos_and_a_reward_request_then_status(
    server: tuple[str, dict[str, str]],
    page: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    url, env = server
    open_chat(page, url)
    expect(click(page, "我要举报"), "举报", "什么对象")
    expect(click(page, "网店"), "叫什么名字")
    expect(say(page, "某某 数码专营店"), "网店链接")
    expect(say(page, "https://shop12345.taobao.com/?spm=a1z10"), "违法行为")
    expect(click(page, "假冒品牌"), "假冒的是哪个品牌")
    expect(say(page, "索尼"), "自己买到的商品")
    expect(click(page, "不是"), "什么时间、什么地方")
    expect(say(page, "11月20日在淘宝上看到"), "描述具体情况")
    facts = "店里大量卖假冒的索尼耳机，价格只有正品三分之一，包装印刷模糊"
    expect(say(page, facts), "照片证据", "完成")

    for seed in (1, 2, 3):
        photo = tmp_path / f"evidence-{seed}.png"
        photo.write_bytes(png_bytes(seed))
        expect(upload(page, photo), f"第 {seed} 张照片", "SHA-256")
    assert page.locator(".msg.me img").count() == 3

    expect(click(page, "完成"), "什么关系")
    expect(click(page, "没有关系（普通消费者或知情人）"), "匿名举报", "实名举报")
    reward = click(page, "实名举报")
    # Conditions and the three levels from the data file; no amount promised.
    expect(reward, "申请举报奖励", "重大违法行为", "5%", "3%", "1%", "不能承诺")
    expect(click(page, "申请"), "真实姓名")
    expect(say(page, "王五"), "身份证号")
    expect(say(page, BAD_ID), "身份证号不正确")
    expect(say(page, VALID_ID), "手机号")
    summary = expect(say(page, "13912345678"), "核对", "某某 数码专营店", "假冒品牌", "3 张")
    assert "1101**********002X" in summary and VALID_ID not in summary
    page.screenshot(path=str(tmp_path / "report-summary.png"), full_page=True)

    confirmation = expect(click(page, "确认提交"), "举报已提交", "15 个工作日", "告知您结果")
    assert "合并" not in confirmation
    number = re.search(r"JB\d{14}", page.locator(".msg.bot.case").last.inner_text())
    assert number, confirmation
    case_no = number.group(0)
    deadline = re.search(r"一般在 (\d{4}-\d{2}-\d{2}) 前（15 个工作日内）完成核查", confirmation)
    assert deadline, confirmation
    assert page.get_by_role("button", name="确认提交", exact=True).last.is_disabled()

    # Status: the same browser (same sender) asks how its report is doing.
    status = expect(say(page, "我的举报怎么样了"), case_no, "已收到，待处理", deadline.group(1))
    assert "王五" not in status and "13912345678" not in status
    expect(say(page, "查进度"), case_no, "已收到，待处理")

    # Read back what was stored, the way an operator would.
    case = cli_case(env, case_no)
    assert case["kind"] == "report" and case["status"] == "submitted"
    fields = case["fields"]
    assert fields["target_type"] == "online_shop"
    assert fields["target_name"] == "某某 数码专营店"
    assert "shop12345.taobao.com" in fields["target_location"]
    assert fields["violation"] == "counterfeit_brand"
    assert fields["seen"] == "11月20日在淘宝上看到" and fields["facts"] == facts
    assert fields["identity"] == "real_name"
    assert fields["own_dispute"] is False and fields["reward"] is True
    assert case["personal"] == {"name": "王五", "id_number": VALID_ID, "phone": "13912345678"}
    evidence = case["evidence"]
    assert len(evidence) == 3
    assert all(re.fullmatch(r"[0-9a-f]{64}", e["sha256"]) for e in evidence)
    assert len({e["sha256"] for e in evidence}) == 3
    assert all(e["content_type"] == "image/png" for e in evidence)
    assert case["decision_due"], case
    assert case["decision_due"].startswith(deadline.group(1)), case["decision_due"]
    # The reward checklist the case stores (issue 5): each item met / not met / for staff.
    assert case.get("reward_checklist") == {
        "reward_requested": True,
        "identified_reporter": "met",
        "specific_target": "met",
        "key_evidence": "staff",
        "major_violation": "staff",
        "own_dispute": False,
        "identity_code": None,  # a real-name reporter gets no identity code
    }, f"`weiquan cases show --json` has no reward checklist: keys {sorted(case)}"


def test_ccc_question_inside_a_complaint_and_a_handover_request(
    server: tuple[str, dict[str, str]],
    page: Any,  # noqa: F811
) -> None:
    url, _ = server
    open_chat(page, url)
    expect(click(page, "我要投诉"), "您买的是什么商品")
    expect(say(page, "充电宝"), "品牌")
    expect(click(page, "无品牌/不清楚"), "型号")
    expect(click(page, "没有型号"), "在哪里买的")

    # A question in the middle of the form: answered with its source, then the pending
    # question is asked again and the form goes on where it was.
    answer = say(page, "充电宝需要3C认证吗？")
    expect(answer, "3C", "我们继续", "在哪里买的")
    assert "出处：" in answer or "依据：" in answer, answer  # one line citing the source
    assert answer.index("3C") < answer.index("我们继续"), answer
    assert "没太明白" not in answer and "不能确定" not in answer, answer
    assert page.get_by_role("button", name="京东", exact=True).last.is_enabled()
    expect(click(page, "京东"), "商家（店铺）叫什么名字")

    # Asking for a person: queued and told roughly how long (the server's staff hours are
    # all day: tests/e2e/conftest.py), and able to cancel.
    expect(say(page, "转人工"), "排队", "预计等待约", "分钟")
    assert page.get_by_role("button", name="取消转人工", exact=True).last.is_enabled()
    expect(say(page, "转人工"), "已经在人工客服的队列中")
    expect(click(page, "取消转人工"), "已取消转人工")
