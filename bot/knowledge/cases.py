"""Typical cases (典型案例): anonymised summaries staff publish and consumers read in chat.

Staff publish in the console (``/console/typical-cases``) or with ``weiquan cases typical``;
the chat reads the latest, by category, through ``TypicalCases`` (the knowledge port's
``typical_cases``). A summary is about goods and conduct, never a person: text that looks like
a phone number, an ID number, an e-mail address or a case number is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import Index, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, UTCDateTime
from bot.db.models import BigId
from bot.deadlines import local_date
from bot.knowledge.base import DATA_DIR
from dialogues.knowledge_port import TypicalCase
from nlu.datafile import read_yaml

LIMITS = {"title_zh": 60, "title_en": 160, "summary_zh": 500, "summary_en": 1200}
# Shapes of personal data a summary must not carry (each scan is linear in the text).
PERSONAL = {
    "phone": re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d{9}(?!\d)"),
    "id_number": re.compile(r"(?<![0-9])\d{17}[0-9Xx](?![0-9])"),
    "email": re.compile(r"[\w.+-]{1,64}@[\w-]{1,63}\.\w"),
    "case_number": re.compile(r"(?<![A-Za-z])(?:TS|JB)\d{14}(?!\d)", re.IGNORECASE),
}


class TypicalCaseRow(Base):
    """One published summary; withdrawing keeps the row (and who did it) but hides it."""

    __tablename__ = "typical_cases"
    __table_args__ = (Index("ix_typical_cases_category_published", "category", "published_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    category: Mapped[str] = mapped_column(String(16))
    title_zh: Mapped[str] = mapped_column(String(60))
    title_en: Mapped[str] = mapped_column(String(160))
    summary_zh: Mapped[str] = mapped_column(Text)
    summary_en: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    published_by: Mapped[str] = mapped_column(String(32))
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    withdrawn_by: Mapped[str | None] = mapped_column(String(32), default=None)


@cache
def categories() -> dict[str, dict[str, str]]:
    """Category key → {zh, en} label (bot/knowledge/data/cases.yml)."""
    data = read_yaml(DATA_DIR / "cases.yml")
    return {str(k): {"zh": v["zh"], "en": v["en"]} for k, v in data["categories"].items()}


class CaseRefused(ValueError):
    """A draft that cannot be published, with the reason in Chinese for staff."""


@dataclass(frozen=True)
class Draft:
    category: str
    title_zh: str
    title_en: str
    summary_zh: str
    summary_en: str

    def checked(self) -> Draft:
        """The draft with whitespace trimmed; CaseRefused names the first problem."""
        clean = Draft(
            self.category.strip(),
            self.title_zh.strip(),
            self.title_en.strip(),
            self.summary_zh.strip(),
            self.summary_en.strip(),
        )
        if clean.category not in categories():
            raise CaseRefused(f"没有这个类别：{clean.category or '（空）'}")
        for name, limit in LIMITS.items():
            value = getattr(clean, name)
            if not value:
                raise CaseRefused(f"{_LABELS[name]}不能为空")
            if len(value) > limit:
                raise CaseRefused(f"{_LABELS[name]}最多 {limit} 个字符")
            for kind, pattern in PERSONAL.items():
                if pattern.search(value):
                    raise CaseRefused(
                        f"{_LABELS[name]}里像是有{_PERSONAL_LABELS[kind]}：请先去除个人信息"
                    )
        return clean


_LABELS = {
    "title_zh": "中文标题",
    "title_en": "英文标题",
    "summary_zh": "中文摘要",
    "summary_en": "英文摘要",
}
_PERSONAL_LABELS = {
    "phone": "手机号",
    "id_number": "身份证号",
    "email": "电子邮箱",
    "case_number": "案件编号",
}


def publish(session: AsyncSession, draft: Draft, *, by: str, now: datetime) -> TypicalCaseRow:
    """Add the checked draft as published now (in the caller's transaction)."""
    clean = draft.checked()
    row = TypicalCaseRow(
        category=clean.category,
        title_zh=clean.title_zh,
        title_en=clean.title_en,
        summary_zh=clean.summary_zh,
        summary_en=clean.summary_en,
        published_at=now,
        published_by=by,
    )
    session.add(row)
    return row


async def withdraw(session: AsyncSession, case_id: int, *, by: str, now: datetime) -> bool:
    """Hide a published case from the chat; False when there is no such live case."""
    row = await session.get(TypicalCaseRow, case_id)
    if row is None or row.withdrawn_at is not None:
        return False
    row.withdrawn_at, row.withdrawn_by = now, by
    return True


async def listing(session: AsyncSession, *, limit: int = 100) -> list[TypicalCaseRow]:
    """Every case, live and withdrawn, newest first (the console's table)."""
    stmt = select(TypicalCaseRow).order_by(TypicalCaseRow.published_at.desc()).limit(limit)
    return list((await session.execute(stmt)).scalars())


def as_case(row: TypicalCaseRow) -> TypicalCase:
    return TypicalCase(
        id=row.id,
        category=row.category,
        title={"zh": row.title_zh, "en": row.title_en},
        summary={"zh": row.summary_zh, "en": row.summary_en},
        published_on=local_date(row.published_at),
    )


class TypicalCases:
    """The knowledge service's shelf: live cases, newest first, from the app's database."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def latest(self, *, category: str | None, limit: int) -> list[TypicalCase]:
        stmt = select(TypicalCaseRow).where(TypicalCaseRow.withdrawn_at.is_(None))
        if category is not None:
            stmt = stmt.where(TypicalCaseRow.category == category)
        stmt = stmt.order_by(TypicalCaseRow.published_at.desc(), TypicalCaseRow.id.desc())
        async with self.sessions() as session:
            rows = (await session.execute(stmt.limit(limit))).scalars()
            return [as_case(row) for row in rows]
