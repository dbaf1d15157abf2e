"""Typical cases end to end through the app: a supervisor publishes in the console (or the
CLI), consumers read the latest in chat by category, withdrawn cases disappear, and
summaries with personal data are refused without losing what was typed."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app as cli
from bot.settings import Settings
from tests.bot.backoffice_helpers import Clock, client_for, make_staff, office_app
from tests.bot.test_api_console import csrf_of, login
from tests.factories import chat_for

CASE = {
    "category": "chargers",
    "title_zh": "夜市销售无3C充电宝被查处",
    "title_en": "Power banks without CCC seized at a night market",
    "summary_zh": "某夜市摊位销售无3C标志、容量虚标的充电宝，执法人员责令停止销售并立案调查。",
    "summary_en": "A night-market stall sold power banks without the CCC mark and with inflated capacity; it was ordered to stop and a case was opened.",
}


@pytest.mark.databases("sqlite", "postgres")
async def test_a_published_case_reaches_the_chat_and_a_withdrawn_one_leaves(
    settings: Settings,
) -> None:
    clock = Clock()
    async with office_app(settings, clock=clock) as app, client_for(app) as client:
        await make_staff(app, "wang", "supervisor")
        await login(client, "wang")
        page = await client.get("/console/typical-cases")
        assert "还没有发布的案例" in page.text
        r = await client.post("/console/typical-cases", data={**CASE, "csrf": csrf_of(page.text)})
        assert r.status_code == 303
        page = await client.get("/console/typical-cases")
        assert CASE["title_zh"] in page.text and "已发布" in page.text

        consumer = chat_for(app, sender="c1", now=clock.at)
        await consumer.say("最近有什么典型案例")
        assert CASE["title_zh"] in consumer.text and CASE["summary_zh"] in consumer.text
        await consumer.say("充电宝怎么辨别真假")
        assert "相关典型案例" in consumer.text and CASE["title_zh"] in consumer.text
        await consumer.say("鞋子怎么辨别真假")
        assert CASE["title_zh"] not in consumer.text  # another category

        case_id = page.text.split("/console/typical-cases/")[1].split("/withdraw")[0]
        r = await client.post(
            f"/console/typical-cases/{case_id}/withdraw", data={"csrf": csrf_of(page.text)}
        )
        assert r.status_code == 303
        assert "已撤下" in (await client.get("/console/typical-cases")).text
        await consumer.say("最近有什么典型案例")
        assert CASE["title_zh"] not in consumer.text and "暂时还没有" in consumer.text
        audit = await client.get("/console/audit")
        assert "发布典型案例" in audit.text and "撤下典型案例" in audit.text


@pytest.mark.databases("sqlite")
async def test_personal_data_is_refused_and_the_draft_kept(settings: Settings) -> None:
    async with office_app(settings, clock=Clock()) as app, client_for(app) as client:
        await make_staff(app, "wang", "supervisor")
        await login(client, "wang")
        csrf = csrf_of((await client.get("/console/typical-cases")).text)
        leaky = {**CASE, "summary_zh": "消费者张某（电话13812345678）投诉某店。", "csrf": csrf}
        r = await client.post("/console/typical-cases", data=leaky)
        assert r.status_code == 422 and "手机号" in r.text
        assert "13812345678" in r.text and CASE["title_en"] in r.text  # nothing typed is lost
        r = await client.post(
            "/console/typical-cases", data={**CASE, "category": "cars", "csrf": csrf}
        )
        assert r.status_code == 422 and "没有这个类别" in r.text
        assert "还没有发布的案例" in r.text


@pytest.mark.databases("sqlite")
async def test_agents_read_but_only_supervisors_publish(settings: Settings) -> None:
    async with office_app(settings, clock=Clock()) as app, client_for(app) as client:
        await make_staff(app, "li", "agent")
        await login(client, "li")
        page = await client.get("/console/typical-cases")
        assert page.status_code == 200 and "发布新案例" not in page.text
        r = await client.post("/console/typical-cases", data={**CASE, "csrf": csrf_of(page.text)})
        assert r.status_code == 403


def test_cli_publishes_lists_and_withdraws(tmp_path: Path, sqlite_url: str) -> None:
    runner = CliRunner()
    env = {"WEIQUAN_DATA_DIR": str(tmp_path / "var"), "WEIQUAN_DATABASE_URL": sqlite_url}
    args = ["cases", "typical", "publish", "--as", "ops"]
    for key in ("category", "title_zh", "title_en", "summary_zh", "summary_en"):
        args += [f"--{key.replace('_', '-')}", CASE[key]]
    published = runner.invoke(cli, args, env=env)
    assert published.exit_code == 0, published.output
    case_id = published.output.strip()
    listed = runner.invoke(cli, ["cases", "typical", "list", "--json"], env=env)
    assert CASE["title_en"] in listed.output and '"withdrawn": false' in listed.output
    bad = runner.invoke(cli, [*args[:-2], "--summary-en", "mail me at a@b.cn"], env=env)
    assert bad.exit_code == 2 and "电子邮箱" in bad.output
    gone = runner.invoke(cli, ["cases", "typical", "withdraw", case_id, "--as", "ops"], env=env)
    assert gone.exit_code == 0, gone.output
    listed = runner.invoke(cli, ["cases", "typical", "list", "--json"], env=env)
    assert '"withdrawn": true' in listed.output
    again = runner.invoke(cli, ["cases", "typical", "withdraw", case_id], env=env)
    assert again.exit_code == 2
