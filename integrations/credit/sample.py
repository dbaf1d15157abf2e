"""The bundled SAMPLE credit lists: invented businesses, so ``make run`` and tests have data.

Every name says SAMPLE and every row carries ``is_sample=True``; every answer built on one
says so, so no one takes it for the national publicity system. The codes are well formed
(check digit included) but invented: their organisation-code part reads ``MA0XMPL…``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from stdnum.cn.uscc import calc_check_digit

from dialogues.credit_port import CreditList, CreditRecord
from integrations.credit.reader import COLUMNS, SAMPLE_MARK


def code(division: str, serial: str) -> str:
    """A well-formed company code: 9 (market regulator), 1 (enterprise), division, serial."""
    body = f"91{division}{serial}"
    return body + calc_check_digit(body)


# (division, serial, name, list, reason, listed, authority, removed)
SHOWCASE: tuple[tuple[str, str, str, CreditList, str, date, str, date | None], ...] = (
    (
        "440305",
        "MA0XMPL01",
        "深圳市南山区星河数码商行",
        CreditList.ABNORMAL,
        "通过登记的住所或者经营场所无法联系",
        date(2025, 6, 12),
        "深圳市市场监督管理局南山监管局",
        None,
    ),
    (
        "440305",
        "MA0XMPL01",
        "深圳市南山区星河数码商行",
        CreditList.SERIOUS,
        "销售侵犯注册商标专用权的商品，受到较重行政处罚",
        date(2025, 11, 3),
        "深圳市市场监督管理局",
        None,
    ),
    (
        "330106",
        "MA0XMPL02",
        "杭州西湖优品服饰有限公司",
        CreditList.ABNORMAL,
        "未按规定期限公示年度报告",
        date(2024, 7, 1),
        "杭州市西湖区市场监督管理局",
        date(2024, 12, 20),
    ),
    (
        "310115",
        "MA0XMPL03",
        "上海浦东惠家电器有限公司",
        CreditList.ABNORMAL,
        "公示企业信息隐瞒真实情况、弄虚作假",
        date(2025, 3, 18),
        "上海市浦东新区市场监督管理局",
        None,
    ),
    (
        "110105",
        "MA0XMPL04",
        "北京朝阳名品汇商贸有限公司",
        CreditList.SERIOUS,
        "生产销售不符合强制性国家标准的产品",
        date(2024, 9, 9),
        "北京市朝阳区市场监督管理局",
        None,
    ),
    # Same name as the Shenzhen shop, another business in another city: never confused.
    (
        "510107",
        "MA0XMPL05",
        "深圳市南山区星河数码商行",
        CreditList.ABNORMAL,
        "未按规定期限公示年度报告",
        date(2023, 7, 1),
        "成都市武侯区市场监督管理局",
        date(2023, 9, 1),
    ),
)


def generate() -> Iterator[CreditRecord]:
    for division, serial, name, kind, reason, listed, authority, removed in SHOWCASE:
        yield CreditRecord(
            uscc=code(division, serial),
            name=f"{name}（{SAMPLE_MARK}）",
            list=kind,
            reason=reason,
            listed_on=listed,
            authority=authority,
            removed_on=removed,
            is_sample=True,
        )


def write_csv(path: Path, records: list[CreditRecord]) -> int:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for r in records:
            writer.writerow(
                (r.name, r.uscc, r.list.zh, r.reason, r.listed_on, r.authority, r.removed_on or "")
            )
    return len(records)
