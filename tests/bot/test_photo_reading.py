"""A photo read in the background through the app: the chat answers at once, the reading
comes back as its own turn (web chat: on the page's pushes), is kept encrypted on the
evidence row, and a full reader says "try again in a minute"."""

from __future__ import annotations

import asyncio
import functools
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from sqlalchemy import select, text

from bot.app import create_app
from bot.db.models import Evidence
from bot.photocheck.pool import OcrPool
from bot.photowork import WORKER_NICENESS, tune_worker
from bot.settings import Settings
from bot.staff.extension import BackofficeExtension
from tests.bot.backoffice_helpers import client_for, make_staff, office_app, office_settings
from tests.bot.photo_worker_helpers import report_tuning
from tests.bot.test_api_console import login
from tests.factories import png_bytes
from tests.photo_reader import ScriptedReader, label

VALID = "2024010914000001"  # well formed; the app's empty registry does not know it


@asynccontextmanager
async def app_with(settings: Settings, reader: ScriptedReader) -> AsyncIterator[FastAPI]:
    # The staff extension serves the web page's pushes (GET /webhooks/rest/pushes).
    app = create_app(
        office_settings(settings),
        migrate=True,
        extensions=[BackofficeExtension()],
        run_outbox=False,
        photo_reader=reader,
    )
    async with app.router.lifespan_context(app):
        yield app


async def settle(app: FastAPI) -> None:
    for _ in range(200):
        if not app.state.photos.tasks and app.state.photos.taken == 0:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the photo was never answered")


async def upload(client: httpx.AsyncClient, sender: str, image: bytes) -> list[dict]:
    response = await client.post(
        "/webhooks/rest/upload",
        data={"sender": sender},
        files={"file": ("label.png", image, "image/png")},
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_label_photo_is_answered_with_the_verdict_on_the_page(
    sqlite_settings: Settings,
) -> None:
    reader = ScriptedReader(seconds=0.2)
    image = png_bytes(7)
    reader.script(image, label(VALID, model="PB-2000", maker="杭州正泰科电子有限公司"))
    async with app_with(sqlite_settings, reader) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            first = await upload(client, "web-1", image)
            assert "正在识别，请稍等" in first[0]["text"]
            assert first[0]["custom"]["reading"] == "pending"
            await settle(app)
            pushed = (await client.get("/webhooks/rest/pushes?sender=web-1")).json()
        assert len(pushed) == 1
        verdict = pushed[0]
        assert verdict["custom"]["reading"] == "done"
        assert f"3C证书编号：{VALID}（识别把握 96%）" in verdict["text"]
        assert "没有查到这个编号" in verdict["text"]
        payloads = [b["payload"] for b in verdict["buttons"]]
        assert "/checked:report" in payloads
        async with app.state.sessions() as session:
            row = (await session.execute(select(Evidence))).scalar_one()
            assert row.reading["fields"][0][:2] == ["ccc_number", VALID]
            raw = (await session.execute(text("SELECT reading FROM evidence"))).scalar_one()
            assert VALID not in str(raw)  # sealed at rest


async def test_a_full_reader_answers_busy_and_chat_still_answers(
    sqlite_settings: Settings,
) -> None:
    settings = sqlite_settings.model_copy(
        update={"chat": sqlite_settings.chat.model_copy(update={"photo_read_limit": 1})}
    )
    reader = ScriptedReader(seconds=1.0)
    async with app_with(settings, reader) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            first = await upload(client, "web-2", png_bytes(1))
            second = await upload(client, "web-3", png_bytes(2))
            assert "正在识别" in first[0]["text"]
            assert "一分钟后再发一次" in second[0]["text"]
            said = await client.post(
                "/webhooks/rest/webhook", json={"sender": "web-3", "message": "你好"}
            )
            assert said.status_code == 200
            assert reader.seen == []  # still reading the first photo: the chat did not wait
            await settle(app)
            pushed = (await client.get("/webhooks/rest/pushes?sender=web-2")).json()
        assert "没有识别出文字" in pushed[0]["text"]


async def test_ocr_workers_yield_the_cpu_to_the_chat_and_get_the_thread_setting() -> None:
    # The pool's real worker process, tuned as the app tunes it, before any model loads.
    pool = OcrPool(
        workers=1,
        queue=1,
        timeout=60,
        recognise=report_tuning,
        prepare=functools.partial(tune_worker, 2),
    )
    try:
        reading = await pool.read(b"any photo")
    finally:
        await pool.close()
    niceness = min(19, os.nice(0) + WORKER_NICENESS)
    assert reading.text == f"nice={niceness} threads=2"


async def test_staff_see_the_reading_next_to_the_photo_on_the_case_page(
    settings: Settings,
) -> None:
    reader = ScriptedReader(seconds=0.1)
    image = png_bytes(9)
    reader.script(image, label(VALID, model="PB-2000", maker="杭州正泰科电子有限公司"))
    async with office_app(settings, photo_reader=reader, cookie_secure=False) as app:
        async with client_for(app) as client:
            await upload(client, "web-9", image)
            await settle(app)
            [verdict] = (await client.get("/webhooks/rest/pushes?sender=web-9")).json()
            replies = await say(client, "web-9", [verdict], "一键举报（已填好）")
            for _ in range(12):
                awaiting = replies[-1]["custom"].get("awaiting")
                if awaiting is None:
                    break
                replies = await say(client, "web-9", replies, REPORT_ANSWERS[awaiting])
            case_no = re.search(r"JB\d{14}", replies[-1]["text"])
            assert case_no, replies
            await make_staff(app, "li", "agent")
            await login(client, "li")
            page = (await client.get(f"/console/cases/{case_no.group(0)}")).text
        evidence = page.split("<h2>证据（1）</h2>")[1].split("</section>")[0]
        assert "照片识别" in evidence
        assert re.search(rf"3C证书编号</dt><dd>{VALID} <small>识别把握 96%", evidence)
        assert "型号</dt><dd>PB-2000" in evidence
        assert "制造商</dt><dd>杭州正泰科电子有限公司" in evidence
        assert "看到3C标志" in evidence
        assert "识别出的文字" in evidence and f"ccc_number: {VALID}" in evidence


# The report's remaining questions once the verdict filled in the maker and the facts.
REPORT_ANSWERS = {
    "target_location": "某电商平台上的店铺",
    "seen": "2026年11月网上看到",
    "own_dispute": "不是",
    "photos": "完成",
    "relation": "没有关系（普通消费者或知情人）",
    "identity": "匿名举报",
    "reward": "不申请",  # asked of every reporter, anonymous ones too
    "confirm": "确认提交",
}


async def say(
    client: httpx.AsyncClient, sender: str, replies: list[dict], answer: str
) -> list[dict]:
    """Tap the button titled ``answer`` in the last replies, or type it."""
    buttons = {b["title"]: b["payload"] for r in replies for b in r.get("buttons", [])}
    message = buttons.get(answer, answer)
    response = await client.post(
        "/webhooks/rest/webhook", json={"sender": sender, "message": message}
    )
    assert response.status_code == 200, response.text
    return list(response.json())
