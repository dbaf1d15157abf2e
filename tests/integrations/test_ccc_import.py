"""Importing registry exports: good, bad, duplicate, empty, GBK and XLSX files."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.engine import make_engine
from dialogues.knowledge_port import CertStatus
from integrations.ccc import importer
from integrations.ccc.reader import COLUMNS
from integrations.ccc.registry import EmbeddedRegistry
from integrations.tabular import ImportFailure

HEADER = ",".join(COLUMNS)
GOOD = [
    "2024010914000101,深圳甲电子有限公司,深圳甲电子有限公司,移动电源,PB-1,0914,有效,2024-03-01,2029-02-28",
    "2023010915000102,东莞乙电池有限公司,东莞乙电池有限公司,锂离子电池,LB-2,0915,suspended,2023-01-01,2027-12-31",
    "2021-0102-0100-0103,宁波丙电器有限公司,宁波丙电器有限公司,插座,S-3,,注销,2021-05-05,",
]


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(db_url)
    yield engine
    await engine.dispose()


def write(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


async def run(engine: AsyncEngine, path: Path) -> importer.ImportReport:
    return await importer.import_file(engine, path, current_year=2026)


async def test_good_file_is_imported_and_looked_up(engine: AsyncEngine, tmp_path: Path) -> None:
    report = await run(engine, write(tmp_path / "good.csv", [HEADER, *GOOD]))
    assert (report.rows, report.imported, report.new, report.errors) == (3, 3, 3, [])
    registry = EmbeddedRegistry(engine)
    cert = await registry.get("2023010915000102")
    assert cert is not None and cert.status is CertStatus.SUSPENDED and not cert.is_sample
    socket = await registry.get("2021010201000103")  # dashes removed, category from the number
    assert socket is not None and socket.category_code == "0201" and socket.expires_on is None


async def test_reimport_is_idempotent_and_updates(engine: AsyncEngine, tmp_path: Path) -> None:
    path = write(tmp_path / "good.csv", [HEADER, *GOOD])
    await run(engine, path)
    again = await run(engine, path)
    assert (again.new, again.updated) == (0, 3)
    assert await importer.count(engine) == 3
    changed = [GOOD[0].replace(",有效,", ",撤销,")]
    await run(engine, write(tmp_path / "changed.csv", [HEADER, *changed]))
    cert = await EmbeddedRegistry(engine).get("2024010914000101")
    assert cert is not None and cert.status is CertStatus.REVOKED


async def test_bad_rows_are_reported_with_line_numbers_and_good_rows_kept(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    bad = [
        HEADER,
        GOOD[0],
        "2024010914A00104,x,x,移动电源,m,0914,有效,2024-01-01,2029-01-01",  # line 3: letter
        "202401091400010,x,x,移动电源,m,0914,有效,2024-01-01,2029-01-01",  # line 4: 15 digits
        "2024010914000106,x,x,移动电源,m,0914,maybe,2024-01-01,2029-01-01",  # line 5: status
        "2024010914000107,x,x,移动电源,m,0914,有效,01/02/2024,2029-01-01",  # line 6: date
        "",  # line 7: blank, skipped
        "2024010914000108,x,x,移动电源,m,0901,有效,2024-01-01,2029-01-01",  # line 8: category
        "2024010914000109,x,x,移动电源,m,0914,有效,2024-01-01,2020-01-01",  # line 9: dates
        GOOD[1],
    ]
    report = await run(engine, write(tmp_path / "bad.csv", bad))
    assert report.imported == 2 and await importer.count(engine) == 2
    assert [e.line for e in report.errors] == [3, 4, 5, 6, 8, 9]
    messages = " | ".join(e.message for e in report.errors)
    for hint in ("letters", "length", "status", "not a date", "differs", "before"):
        assert hint in messages


async def test_duplicate_rows_are_reported_and_the_last_wins(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    later = GOOD[0].replace(",有效,", ",暂停,")
    report = await run(engine, write(tmp_path / "dup.csv", [HEADER, GOOD[0], GOOD[1], later]))
    assert report.imported == 2
    assert [(d.line, "line 2" in d.message) for d in report.duplicates] == [(4, True)]
    cert = await EmbeddedRegistry(engine).get("2024010914000101")
    assert cert is not None and cert.status is CertStatus.SUSPENDED


async def test_duplicates_across_batches(engine: AsyncEngine, tmp_path: Path) -> None:
    path = write(tmp_path / "dup.csv", [HEADER, GOOD[0], GOOD[1], GOOD[2], GOOD[0]])
    report = await importer.import_file(engine, path, current_year=2026, batch_size=2)
    assert report.imported == 3 and len(report.duplicates) == 1


async def test_gbk_file_is_detected_and_read(engine: AsyncEngine, tmp_path: Path) -> None:
    report = await run(engine, write(tmp_path / "gbk.csv", [HEADER, *GOOD], encoding="gbk"))
    assert report.imported == 3 and report.errors == []
    cert = await EmbeddedRegistry(engine).get("2024010914000101")
    assert cert is not None and cert.holder == "深圳甲电子有限公司"


async def test_utf8_file_with_bom(engine: AsyncEngine, tmp_path: Path) -> None:
    report = await run(engine, write(tmp_path / "bom.csv", [HEADER, *GOOD], encoding="utf-8-sig"))
    assert report.imported == 3


async def test_broken_bytes_in_one_row_reject_that_row_only(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    path = tmp_path / "broken.csv"
    body = "\n".join([HEADER, GOOD[0], GOOD[1]]).encode("utf-8")
    path.write_bytes(body + b"\n2022010914000110,\xff\xfe bad,x,p,m,0914,valid,2022-01-01,\n")
    report = await run(engine, path)
    assert report.imported == 2
    assert [e.line for e in report.errors] == [4]
    assert "encoding" in report.errors[0].message


@pytest.mark.parametrize("content", [b"", b"\n\n"])
async def test_empty_file_is_refused_clearly(
    engine: AsyncEngine, tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    with pytest.raises(ImportFailure, match="empty"):
        await run(engine, path)


async def test_missing_columns_are_named(engine: AsyncEngine, tmp_path: Path) -> None:
    with pytest.raises(ImportFailure, match="status"):
        await run(engine, write(tmp_path / "h.csv", ["cert_no,holder,product", "1,2,3"]))


async def test_xlsx_export(engine: AsyncEngine, tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(COLUMNS))
    for line in GOOD:
        sheet.append(line.split(","))
    sheet.append(["abc", "x", "x", "x", "x", "", "有效", "", ""])
    path = tmp_path / "export.xlsx"
    book.save(path)
    report = await run(engine, path)
    assert report.imported == 3
    assert [e.line for e in report.errors] == [5]
