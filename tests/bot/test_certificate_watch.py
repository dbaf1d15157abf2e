"""Certificate watchers through the app and the import command: a watcher is told, in their
language and through the outbox, when an import changes the certificate's status; an import
that changes nothing tells nobody, and one run again does not repeat."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.cli import ccc as ccc_cli
from bot.db.models import OutboxMessage, TranscriptEntry
from bot.settings import Settings
from dialogues.knowledge_port import Certificate, CertStatus
from integrations.ccc import importer
from integrations.ccc.sample import write_csv
from tests.factories import chat_for, running_app

WATCHED = Certificate(
    cert_no="2024010914000101",
    holder="甲电子有限公司",
    manufacturer="甲电子有限公司",
    product="移动电源",
    model="PB-1",
    category_code="0914",
    status=CertStatus.VALID,
    issued_on=date(2024, 3, 1),
    expires_on=date(2029, 2, 28),
)
OTHER = replace(WATCHED, cert_no="2024010914000102", model="PB-2")


async def _import(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str], *found: Certificate
) -> str:
    """``weiquan ccc import`` of a file holding ``found``; what it printed."""
    path = tmp_path / "export.csv"
    write_csv(path, list(found))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WEIQUAN_DATA_DIR", str(settings.data_dir))
        env.setenv("WEIQUAN_DATABASE_URL", str(settings.database_url))
        env.delenv("WEIQUAN_CCC_REGISTRY_URL", raising=False)
        capsys.readouterr()
        # The command runs its own event loop: in a thread, beside the running app's.
        await asyncio.to_thread(ccc_cli.import_cmd, path, None, importer.BATCH)
    return capsys.readouterr().err


async def _told(app: object) -> list[str]:
    async with app.state.sessions() as session:  # type: ignore[attr-defined]
        rows = await session.execute(
            select(TranscriptEntry.text)
            .where(TranscriptEntry.author == "system")
            .order_by(TranscriptEntry.id)
        )
        return [text for (text,) in rows]


@pytest.mark.databases("sqlite", "postgres")
async def test_a_watcher_is_told_once_per_status_change_an_import_makes(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running_app(settings) as app:
        await importer.upsert(app.state.db_engine, [WATCHED, OTHER])
        zh = chat_for(app, channel="rest", sender="zh-watcher")
        en = chat_for(app, channel="telegram", sender="en-watcher", locale="en-US")
        gone = chat_for(app, channel="rest", sender="dropped")
        for chat, words in ((zh, "关注这个证书"), (en, "watch this certificate"), (gone, "关注")):
            await chat.say("/ccc")
            await chat.say(WATCHED.cert_no)
            await chat.say(words)
            assert "已关注3C证书" in chat.text or "Watching CCC certificate" in chat.text
        await gone.say("退订")
        assert "已退订：3C证书 2024010914000101 的状态变化" in gone.text
        other = chat_for(app, channel="rest", sender="other-watcher")
        await other.say(f"关注证书 {OTHER.cert_no}")

        # The same data again: nobody is told.
        printed = await _import(settings, tmp_path, capsys, WATCHED, OTHER)
        assert "0 certificate watchers told" in printed
        assert await _told(app) == []

        # Suspended by the registry: both watchers told, each in their language.
        suspended = replace(WATCHED, status=CertStatus.SUSPENDED)
        printed = await _import(settings, tmp_path, capsys, suspended, OTHER)
        assert "2 certificate watchers told" in printed
        told = await _told(app)
        assert len(told) == 2
        assert "您关注的3C证书 2024010914000101（移动电源）" in told[0]
        assert "已由“有效”变为“暂停”" in told[0] and "状态：暂停。" in told[0]
        assert 'is now registered as "suspended" (it was "valid"' in told[1]
        async with app.state.sessions() as session:
            keys = (await session.execute(select(OutboxMessage.key))).scalars().all()
        # The Telegram watcher's message waits in the outbox; the web chat's is on its page.
        assert [k for k in keys if ":watch." in k] == [
            k for k in keys if k.startswith("reply:telegram:") and "watch.2024010914000101.1" in k
        ]
        assert len([k for k in keys if ":watch." in k]) == 1

        # Imported again: no repeat.
        printed = await _import(settings, tmp_path, capsys, suspended, OTHER)
        assert "0 certificate watchers told" in printed
        assert len(await _told(app)) == 2

        # Revoked later: a new change, told once more.
        revoked = replace(WATCHED, status=CertStatus.REVOKED)
        await _import(settings, tmp_path, capsys, revoked, OTHER)
        told = await _told(app)
        assert len(told) == 4
        assert "已由“暂停”变为“撤销”" in told[2] and 'it was "suspended"' in told[3]
        assert not any("2024010914000102" in text for text in told)
