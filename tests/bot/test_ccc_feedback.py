"""Two-way CCC risk feedback: the certificate numbers consumers' cases name are counted on the
case page and by ``weiquan ccc check``, and exported per month for e-commerce platforms (the
console's download for supervisors and ``weiquan ccc risk-export``), with no consumer data."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import typer
from openpyxl import load_workbook

from bot.ccc_feedback import HEADER
from bot.cli import ccc as ccc_cli
from bot.settings import Settings
from dialogues.knowledge_port import Certificate, CertStatus
from integrations.ccc import importer
from tests.bot.backoffice_helpers import Clock, client_for, make_staff, office_app, submit_case
from tests.bot.test_api_console import login

REVOKED = Certificate(
    cert_no="2023010914000003",
    holder="乙电子有限公司",
    manufacturer="乙电子有限公司",
    product="移动电源",
    model="PB-3",
    category_code="0914",
    status=CertStatus.REVOKED,
    issued_on=date(2023, 3, 1),
    expires_on=date(2028, 2, 28),
)
LISTING = "https://item.taobao.com/item.htm?id=12345"
REPORT = {
    "target_type": "online_shop",
    "target_name": "闪电数码专营店",
    "target_location": LISTING,
    "violation": "forged_cert",
    "identity": "anonymous",
    "facts": "商品详情页写着3C证书编号 2023-0109-1400-0003，官方查询显示已撤销",
}
COMPLAINT = {
    "product": "充电宝",
    "platform": "拼多多",
    "merchant": "数码配件小铺",
    "merchant_address": "https://mobile.yangkeduo.com/goods.html?goods_id=9",
    "order_no": "2411101234567890",
    # An order number and a long digit run are no certificate numbers.
    "problem": "充电宝上的3C编号2024010914000777查不到，订单号 241110123456789012、2411101234567890",
}
PERSONAL = {"name": "赵六", "phone": "13512345678", "address": "杭州市西湖区文三路1号"}


def _env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    monkeypatch.setenv("WEIQUAN_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("WEIQUAN_DATABASE_URL", str(settings.database_url))
    monkeypatch.delenv("WEIQUAN_CCC_REGISTRY_URL", raising=False)


@pytest.mark.databases("sqlite", "postgres")
async def test_reported_certificates_are_counted_for_staff_and_exported_for_platforms(
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock = Clock(datetime(2026, 12, 2, 2, 0, tzinfo=UTC))
    async with office_app(settings, clock=clock) as app, client_for(app) as client:
        await importer.upsert(app.state.db_engine, [REVOKED])
        november = [datetime(2026, 11, day, 2, 0, tzinfo=UTC) for day in (3, 20)]
        first = await submit_case(
            app, kind="report", at=november[0], sender="a", fields=REPORT, personal={}
        )
        await submit_case(app, kind="report", at=november[1], sender="b", fields=REPORT)
        complaint = await submit_case(
            app, at=datetime(2026, 11, 10, 2, tzinfo=UTC), fields=COMPLAINT, personal=PERSONAL
        )
        # Early on 1 December in Shanghai (still 30 November in UTC): December's.
        await submit_case(
            app, kind="report", at=datetime(2026, 11, 30, 17, tzinfo=UTC), sender="c", fields=REPORT
        )

        await make_staff(app, "qian", "agent")
        await login(client, "qian")
        page = await client.get(f"/console/cases/{first}")
        assert "提到的3C证书" in page.text and "2023010914000003" in page.text
        assert "撤销" in page.text and '<td class="reports">3 件投诉举报</td>' in page.text
        page = await client.get(f"/console/cases/{complaint}")
        assert "2024010914000777" in page.text and "证书库中没有" in page.text
        assert '<td class="reports">1 件投诉举报</td>' in page.text
        assert (
            "2411101234567890" not in page.text.split('id="certificates"')[1].split("</table>")[0]
        )
        assert (await client.get("/console/ccc-risk")).status_code == 403

        await make_staff(app, "zhao", "supervisor")
        await login(client, "zhao")
        form = await client.get("/console/ccc-risk")
        assert form.status_code == 200 and 'value="2026-12"' in form.text
        bad = await client.get("/console/ccc-risk", params={"month": "2026-13"})
        assert bad.status_code == 422 and "2026-11 这样的格式" in bad.text
        got = await client.get("/console/ccc-risk", params={"month": "2026-11", "format": "csv"})
        assert got.status_code == 200
        assert 'filename="ccc-risk-2026-11.csv"' in got.headers["content-disposition"]
        text = got.content.decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0] == list(HEADER)
        assert rows[1] == [
            "item.taobao.com",
            LISTING,
            "闪电数码专营店",
            "2023010914000003",
            "revoked",
            "2",
            "2026-11-03",
            "2026-11-20",
        ]
        assert rows[2][:6] == [
            "拼多多",
            COMPLAINT["merchant_address"],
            "数码配件小铺",
            "2024010914000777",
            "not_found",
            "1",
        ]
        assert len(rows) == 3
        for private in (*PERSONAL.values(), first, complaint):
            assert private not in text
        audit = await client.get("/console/audit")
        assert "导出3C风险反馈" in audit.text

    _env(monkeypatch, settings)
    out = tmp_path / "risk.xlsx"
    await asyncio.to_thread(
        ccc_cli.risk_export, month="2026-11", fmt=ccc_cli.ExportFormat.xlsx, out=out
    )
    sheet = load_workbook(out).active
    assert sheet is not None
    cells = [[c.value for c in row] for row in sheet.iter_rows()]
    assert cells[0] == list(HEADER) and cells[1][3] == "2023010914000003" and cells[1][5] == 2
    with pytest.raises(typer.Exit):
        ccc_cli.risk_export(month="11/2026", fmt=ccc_cli.ExportFormat.csv, out=out)

    capsys.readouterr()
    await asyncio.to_thread(
        ccc_cli.check,
        "2023010914000003",
        product=None,
        as_json=False,
        lang="zh",
        on=None,
        registry_url=None,
    )
    assert "消费者反映：3 件投诉举报提到这个证书编号。" in capsys.readouterr().out
