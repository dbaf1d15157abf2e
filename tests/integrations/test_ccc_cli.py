"""``weiquan ccc`` commands as an operator runs them (on a migrated SQLite database)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.ccc import app
from integrations.ccc.reader import COLUMNS

runner = CliRunner()


@pytest.fixture
def database(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("WEIQUAN_DATABASE_URL", sqlite_url)
    monkeypatch.delenv("WEIQUAN_CCC_REGISTRY_URL", raising=False)
    return sqlite_url


def test_seed_then_check_text_and_json(database: str) -> None:
    assert runner.invoke(app, ["seed"]).exit_code == 0
    text = runner.invoke(app, ["check", "2024-0109-1400-0002", "--product", "充电宝"])
    assert text.exit_code == 0
    assert "状态：暂停" in text.stdout and "SAMPLE" in text.stdout
    result = runner.invoke(app, ["check", "2024010914000001", "-p", "插座", "--json"])
    data = json.loads(result.stdout)
    assert data["status"] == "valid" and data["category_match"] == "mismatch" and data["is_sample"]


def test_check_refuses_a_malformed_number_with_exit_code_2(database: str) -> None:
    result = runner.invoke(app, ["check", "201601090112345", "--lang", "en"])
    assert result.exit_code == 2 and "yours has 15" in result.stdout


def test_import_reports_bad_rows_by_line_and_keeps_the_good(database: str, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    rows = [
        ",".join(COLUMNS),
        "2024010914000101,甲公司,甲公司,移动电源,PB-1,0914,有效,2024-03-01,2029-02-28",
        "2024010914X00102,乙公司,乙公司,移动电源,PB-2,0914,有效,2024-03-01,2029-02-28",
    ]
    path.write_bytes("\n".join(rows).encode("gbk"))
    result = runner.invoke(app, ["import", str(path), "--errors", str(tmp_path / "err.tsv")])
    assert result.exit_code == 2
    assert "line 3" in result.stderr and "1 certificates written" in result.stderr
    assert (tmp_path / "err.tsv").read_text(encoding="utf-8").startswith("3\t")
    check = runner.invoke(app, ["check", "2024010914000101"])
    assert "甲公司" in check.stdout and "SAMPLE" not in check.stdout


def test_import_of_an_empty_file_fails_clearly(database: str, tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    result = runner.invoke(app, ["import", str(path)])
    assert result.exit_code == 1 and "empty" in result.stderr


def test_listing_from_stdin(database: str) -> None:
    runner.invoke(app, ["seed"])
    result = runner.invoke(app, ["listing", "-"], input="迷你充电宝 3C证书 2023010914000003")
    assert result.exit_code == 0
    assert "状态：撤销" in result.stdout and "结论：证书编号有问题" in result.stdout
