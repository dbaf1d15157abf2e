"""Exports never hand a spreadsheet a live formula, whatever a consumer typed as merchant."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from bot.cli.export import COLUMNS
from bot.cli.export import app as export_app
from bot.settings import Settings
from bot.staff import labels
from tests.bot.backoffice_helpers import Clock, office_app, submit_case

pytestmark = pytest.mark.databases("sqlite")

BRAND = labels.field_name("complaint", "brand")
PROBLEM = labels.field_name("complaint", "problem")
# One hostile value per character a spreadsheet reads as the start of a formula (each fits
# the 32 characters of the platform column).
HOSTILE = {
    "=": '=HYPERLINK("http://e.vi","点")',
    "+": "+1+cmd|' /C calc'!A0",
    "-": "-2+3+cmd|' /C calc'!A0",
    "@": "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t": "\t=1+1",
    "\r": "\r=1+1",
}


@pytest.fixture
def hostile_cases(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """One complaint per hostile start: merchant, platform, product, brand and problem."""

    async def setup() -> list[str]:
        numbers = []
        async with office_app(settings, clock=Clock()) as app:
            for index, value in enumerate(HOSTILE.values()):
                fields = {
                    "product": value,
                    "brand": value,
                    "platform": value,
                    "merchant": value,
                    "problem": value,
                    "amount": -5,
                }
                numbers.append(await submit_case(app, sender=f"s{index}", fields=fields))
        return numbers

    numbers = asyncio.run(setup())
    monkeypatch.setenv("WEIQUAN_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("WEIQUAN_DATA_DIR", str(settings.data_dir))
    return numbers


def _xml(text: str) -> str:
    """XLSX is XML, whose parsers read a carriage return back as a line feed."""
    return text.replace("\r", "\n")


def _by_column(header: list[str], row: Sequence[object]) -> dict[str, object]:
    return dict(zip(header, row, strict=True))


def test_csv_cells_are_never_formulas(hostile_cases: list[str]) -> None:
    out = CliRunner().invoke(export_app, ["export", "--format", "csv"])
    assert out.exit_code == 0, out.output
    text = out.stdout_bytes.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header, body = rows[0], rows[1:]
    assert header == COLUMNS and len(body) == len(HOSTILE)
    seen = set()
    for raw in body:
        row = _by_column(header, raw)
        merchant = str(row["merchant"])
        assert merchant.startswith("'"), merchant
        original = merchant[1:]
        assert original in HOSTILE.values()
        seen.add(original)
        assert row["platform"] == row["category"] == merchant
        # Keyed by the questions' labels (品牌, 问题描述…), as people read the sheet.
        fields = json.loads(str(row["fields"]))
        assert fields[BRAND] == fields[PROBLEM] == original  # JSON text: starts with "{"
        for cell in raw:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    assert seen == set(HOSTILE.values())


def test_xlsx_cells_are_text_not_formulas(hostile_cases: list[str], tmp_path: Path) -> None:
    target = tmp_path / "cases.xlsx"
    out = CliRunner().invoke(export_app, ["export", "--format", "xlsx", "-o", str(target)])
    assert out.exit_code == 0, out.output
    sheet = load_workbook(target).active
    assert sheet is not None
    lines = list(sheet.iter_rows())
    header = [c.value for c in lines[0]]
    assert header == COLUMNS and len(lines) == len(HOSTILE) + 1
    seen = set()
    for line in lines[1:]:
        for cell in line:
            assert cell.data_type != "f", (cell.coordinate, cell.value)
            if isinstance(cell.value, str):
                assert not cell.value.startswith(("=", "+", "-", "@", "\t", "\r")), cell.value
        row = _by_column(header, [c.value for c in line])
        merchant = str(row["merchant"])
        assert merchant.startswith("'") and row["platform"] == row["category"] == merchant
        seen.add(_xml(merchant[1:]))
        assert _xml(json.loads(str(row["fields"]))[BRAND]) == _xml(merchant[1:])
    assert seen == {_xml(v) for v in HOSTILE.values()}
    # Ordinary values are untouched: the dates and case numbers still read as they are.
    assert str(row["case_no"]).startswith("TS") and row["overdue"] in (True, False)


def test_json_export_keeps_values_as_they_are(hostile_cases: list[str]) -> None:
    """JSON is data, not a sheet: nothing is prefixed there."""
    out = CliRunner().invoke(export_app, ["export", "--format", "json"])
    assert out.exit_code == 0, out.output
    merchants = {c["merchant"] for c in json.loads(out.stdout)}
    assert merchants == set(HOSTILE.values())
