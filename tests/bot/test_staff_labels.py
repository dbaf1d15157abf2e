"""Staff read labels, never internal keys: a report's category is 假冒品牌, not
``counterfeit_brand``, and its target fills the 商家/对象 column, in the case list, the case
page, the dashboard, the spreadsheet exports and ``weiquan cases list/show``."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from html.parser import HTMLParser
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import app as cli
from bot.settings import Settings
from dialogues.flows import all_flows
from tests.bot.backoffice_helpers import (
    console_login,
    make_staff,
    office_app,
    submit_case,
)

pytestmark = pytest.mark.databases("sqlite")

REPORT = {
    "target_type": "online_shop",
    "target_name": "星河假货仓",
    "target_location": "杭州市西湖区文三路100号",
    "violation": "counterfeit_brand",
    "brand": "耐克",
    "own_dispute": False,
    "seen": "上周在店里看到",
    "facts": "店里整柜卖假耐克鞋",
    "relation": "competitor",
    "identity": "real_name",
    "reward": False,
}
COMPLAINT = {
    "product": "充电宝",
    "brand": "品胜",
    "platform": "淘宝",
    "merchant": "数码配件小铺",
    "merchant_address": "杭州市西湖区文三路1号",
    "purchase_date": "2026-09-20",
    "amount": 89,
    "problem": "充电宝鼓包发烫",
    "demand": ["refund", "compensation"],
    "consent_publish": True,
    "consent_mediation": False,
}


def raw_keys() -> set[str]:
    """Every key a staff view might leak: choices shown with labels, kinds, statuses, channels."""
    keys = {"complaint", "report", "submitted", "telegram", "wechat", "rest"}
    for flow in all_flows().values():
        for step in flow.steps:
            if step.type == "multichoice" or (step.type == "choice" and step.labelled):
                keys.update(step.choices)
    return keys


def leaks(text: str) -> set[str]:
    """The raw keys in ``text`` as whole words (a label may contain a key's letters inside)."""
    return {k for k in raw_keys() if re.search(rf"(?<![\w/:.-]){re.escape(k)}(?![\w/:.-])", text)}


class _Visible(HTMLParser):
    """The text a person sees on a page: no attributes, scripts or styles."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self._hidden += tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self._hidden -= tag in ("script", "style")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def visible(html: str) -> str:
    parser = _Visible()
    parser.feed(html)
    return " ".join(parser.parts)


def test_the_leak_check_finds_a_raw_key() -> None:
    assert leaks(visible("<td>counterfeit_brand</td><td>假冒品牌</td>")) == {"counterfeit_brand"}
    assert leaks(visible('<option value="report">举报</option>')) == set()


@pytest.fixture
def filed(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A report and a complaint filed, and every console page staff read them on."""

    async def setup() -> dict[str, Any]:
        async with office_app(settings) as app:
            await make_staff(app, "boss", "supervisor")
            report = await submit_case(
                app,
                kind="report",
                sender="1",
                fields=REPORT,
                personal={"name": "钱七", "phone": "13512345678"},
            )
            complaint = await submit_case(app, sender="2", fields=COMPLAINT)
            client = await console_login(app, "boss")
            pages = {}
            for path in (
                "/console/cases",
                f"/console/cases/{report}",
                f"/console/cases/{complaint}",
                "/console/dashboard",
                "/console/dashboard?period=month",
            ):
                r = await client.get(path)
                assert r.status_code == 200, path
                pages[path] = r.text
            return {"report": report, "complaint": complaint, "pages": pages}

    data = asyncio.run(setup())
    monkeypatch.setenv("WEIQUAN_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("WEIQUAN_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("COLUMNS", "250")
    return data


def test_the_case_list_shows_the_report_target_and_category_label(filed: dict[str, Any]) -> None:
    page = filed["pages"]["/console/cases"]
    row = re.search(rf"<tr[^>]*>\s*<td><a[^>]*>{filed['report']}</a>.*?</tr>", page, re.S)
    assert row, page
    cells = re.findall(r"<td>(.*?)</td>", row[0], re.S)
    assert "星河假货仓" in cells and "假冒品牌" in cells, cells


def test_no_staff_view_shows_a_raw_key(filed: dict[str, Any]) -> None:
    for path, html in filed["pages"].items():
        assert leaks(visible(html)) == set(), path
    case_page = visible(filed["pages"][f"/console/cases/{filed['report']}"])
    for label in ("网店", "假冒品牌", "竞争对手", "实名举报", "Telegram"):
        assert label in case_page, label
    complaint_page = visible(filed["pages"][f"/console/cases/{filed['complaint']}"])
    assert "退款、赔偿" in complaint_page
    runner = CliRunner()
    listed = runner.invoke(cli, ["cases", "list"])
    assert listed.exit_code == 0, listed.output
    assert "星河假货仓" in listed.stdout and "假冒品牌" in listed.stdout
    assert leaks(listed.stdout) == set(), listed.stdout
    for case_no in (filed["report"], filed["complaint"]):
        shown = runner.invoke(cli, ["cases", "show", case_no, "--as", "ops.zhao"])
        assert shown.exit_code == 0, shown.output
        assert leaks(shown.stdout) == set(), shown.stdout
    exported = runner.invoke(cli, ["cases", "export", "--format", "csv"])
    assert exported.exit_code == 0, exported.output
    rows = list(csv.DictReader(io.StringIO(exported.stdout_bytes.decode("utf-8-sig"))))
    by_no = {r["case_no"]: r for r in rows}
    assert by_no[filed["report"]]["merchant"] == "星河假货仓"
    assert by_no[filed["report"]]["category"] == "假冒品牌"
    assert by_no[filed["report"]]["kind"] == "举报"
    for row in rows:
        assert leaks(" ".join(row[c] for c in row if c != "overdue")) == set(), row
