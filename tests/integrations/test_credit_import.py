"""Importing exports of the credit lists: UTF-8 and GBK, Chinese headers, bad rows, re-import,
a listing that is later removed, XLSX, and the command line."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from bot.db.engine import make_engine
from dialogues.credit_port import CreditList
from integrations.credit import importer
from integrations.credit.reader import COLUMNS
from integrations.credit.registry import EmbeddedCreditRegistry
from integrations.credit.sample import code
from integrations.tabular import ImportFailure

SZ = code("440305", "MA0XMPL01")
HZ = code("330106", "MA0XMPL02")
BJ = code("110105", "MA0XMPL04")
HEADER = ",".join(COLUMNS)
GOOD = [
    f"深圳市星河数码有限公司,{SZ},经营异常名录,通过登记的住所无法联系,2025-06-12,深圳市市场监督管理局南山监管局,",
    f"杭州西湖优品服饰有限公司,{HZ},abnormal,未按规定期限公示年度报告,2024/7/1,杭州市西湖区市场监督管理局,2024-12-20",
    f"北京朝阳名品汇商贸有限公司,{BJ},严重违法失信名单,销售侵权商品,2024年9月9日,北京市朝阳区市场监督管理局,",
]
# An official export's own header, one list per file.
CHINESE_HEADER = "企业名称,统一社会信用代码,列入经营异常名录原因,列入日期,作出决定机关,移出日期"


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(db_url)
    yield engine
    await engine.dispose()


def write(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


async def test_good_file_is_imported_and_looked_up(engine: AsyncEngine, tmp_path: Path) -> None:
    report = await importer.import_file(engine, write(tmp_path / "g.csv", [HEADER, *GOOD]))
    assert (report.rows, report.imported, report.new, report.errors) == (3, 3, 3, [])
    registry = EmbeddedCreditRegistry(engine)
    [sz] = await registry.by_code(SZ)
    assert (
        sz.list is CreditList.ABNORMAL and sz.current and sz.listed_on.isoformat() == "2025-06-12"
    )
    assert sz.authority == "深圳市市场监督管理局南山监管局" and not sz.is_sample
    [hz] = await registry.by_code(HZ)
    assert hz.removed_on is not None and not hz.current
    [bj] = await registry.by_name("北京朝阳名品汇商贸 有限公司")  # folded like a typed name
    assert bj.list is CreditList.SERIOUS and bj.uscc == BJ
    assert await registry.by_code(code("440305", "MA0XMPL09")) == []


@pytest.mark.databases("sqlite")
async def test_gbk_export_with_chinese_headers_and_the_list_given(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    lines = [
        CHINESE_HEADER,
        f"深圳市星河数码有限公司,{SZ},通过登记的住所无法联系,2025-06-12,深圳市市场监督管理局南山监管局,",
    ]
    path = write(tmp_path / "gbk.csv", lines, "gbk")
    with pytest.raises(ImportFailure, match="list"):
        await importer.import_file(engine, path)  # no list column and none given
    report = await importer.import_file(engine, path, default_list=CreditList.ABNORMAL)
    assert report.imported == 1 and report.errors == []
    [record] = await EmbeddedCreditRegistry(engine).by_code(SZ)
    assert record.name == "深圳市星河数码有限公司" and record.reason == "通过登记的住所无法联系"


async def test_reimport_is_idempotent_and_a_removal_updates_the_listing(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    path = write(tmp_path / "g.csv", [HEADER, *GOOD])
    await importer.import_file(engine, path)
    again = await importer.import_file(engine, path)
    assert (again.new, again.updated) == (0, 3)
    assert await importer.count(engine) == 3
    # The next export: Shenzhen's listing was removed, and it was put on the other list.
    removed = GOOD[0].removesuffix(",") + ",2025-10-08"
    serious = f"深圳市星河数码有限公司,{SZ},严重违法失信名单,销售侵犯注册商标专用权的商品,2025-11-03,深圳市市场监督管理局,"
    report = await importer.import_file(
        engine, write(tmp_path / "next.csv", [HEADER, removed, serious])
    )
    assert (report.new, report.updated) == (1, 1)
    records = await EmbeddedCreditRegistry(engine).by_code(SZ)
    assert [(r.list, r.current) for r in records] == [
        (CreditList.SERIOUS, True),  # newest first
        (CreditList.ABNORMAL, False),
    ]
    assert records[1].removed_on is not None and records[1].removed_on.isoformat() == "2025-10-08"


@pytest.mark.databases("sqlite")
async def test_bad_rows_are_reported_with_line_numbers_and_good_rows_kept(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    wrong_check = SZ[:-1] + ("0" if SZ[-1] != "0" else "1")
    lines = [
        HEADER,
        GOOD[0],
        f"某公司,{wrong_check},abnormal,x,2025-01-01,某局,",  # line 3: check character
        "某公司,9144030,abnormal,x,2025-01-01,某局,",  # line 4: length
        f"某公司,{HZ},watchlist,x,2025-01-01,某局,",  # line 5: list
        f"某公司,{HZ},abnormal,x,01/02/2025,某局,",  # line 6: date
        "",  # line 7: blank, skipped
        f",{HZ},abnormal,x,2025-01-01,某局,",  # line 8: no name
        f"某公司,{HZ},abnormal,x,2025-05-01,某局,2025-01-01",  # line 9: removed before listed
        f"某公司,{HZ},abnormal,x,,某局,",  # line 10: no date listed
        GOOD[2],
        GOOD[0],  # line 12: the same listing again, the later row is used
    ]
    report = await importer.import_file(engine, write(tmp_path / "bad.csv", lines))
    assert report.imported == 2 and await importer.count(engine) == 2
    got = {e.line: e.message for e in report.errors}
    assert sorted(got) == [3, 4, 5, 6, 8, 9, 10]
    assert "checksum" in got[3] and "length" in got[4] and "watchlist" in got[5]
    assert "not a date" in got[6] and "name is empty" in got[8]
    assert "before listed_on" in got[9] and "listed_on is empty" in got[10]
    assert [d.line for d in report.duplicates] == [12]


@pytest.mark.databases("sqlite")
async def test_xlsx_export(engine: AsyncEngine, tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(COLUMNS))
    sheet.append(
        ["深圳市星河数码有限公司", SZ, "经营异常名录", "无法联系", "2025-06-12", "某局", None]
    )
    path = tmp_path / "lists.xlsx"
    book.save(path)
    report = await importer.import_file(engine, path)
    assert report.imported == 1


@pytest.mark.databases("sqlite")
def test_command_line_import_seed_and_check(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.cli import app as cli

    monkeypatch.setenv("WEIQUAN_DATABASE_URL", sqlite_url)
    runner = CliRunner()
    path = write(tmp_path / "g.csv", [HEADER, *GOOD, f"x,{SZ[:-1]},abnormal,r,2025-01-01,a,"])
    result = runner.invoke(cli, ["credit", "import", str(path)])
    assert result.exit_code == 2  # a row was not taken
    assert "3 listings written" in result.output and "line 5" in result.output
    result = runner.invoke(cli, ["credit", "seed"])
    assert result.exit_code == 0 and "SAMPLE" in result.output
    result = runner.invoke(cli, ["credit", "check", SZ])
    assert result.exit_code == 0, result.output
    assert "2025-06-12" in result.output and "经营异常名录" in result.output
    assert "不在名单上并不说明" in result.output and "来源" in result.output
    result = runner.invoke(cli, ["credit", "check", SZ[:-1] + "Y"])
    assert result.exit_code == 2 and "不正确" in result.output
