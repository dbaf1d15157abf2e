"""Transcript tests for complaint intake, run through the real pipeline and database."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import func, select, text

from bot.db.models import Case, Evidence
from tests.factories import chat_for, run, running_app

pytestmark = pytest.mark.databases("sqlite")

HAPPY = [
    ("/complaint", "product"),
    ("蓝牙耳机", "brand"),
    ("索尼", "model_no"),
    ("WH-1000XM5", "platform"),
    ("京东", "merchant"),
    ("某某数码专营店", "merchant_address"),
    ("https://shop.example.com/123", "order_no"),
    ("2026112012345", "purchase_date"),
    ("2026-11-20", "amount"),
    ("399元", "problem"),
    ("耳机是假的，序列号官网查不到，音质很差，客服不理", "demand"),
    ("退款并赔偿", "claim_amount"),
    ("1197元", "photos"),
    ("/skip", "name"),
    ("张三", "phone"),
    ("138 1234 5678", "address"),
    ("北京市朝阳区建国路1号", "id_type"),
    ("不用了", "consent_publish"),  # the ID document is offered, never required
    ("/yes", "consent_mediation"),
    ("/no", "confirm"),
]


async def cases_of(app: Any) -> list[Case]:
    async with app.state.sessions() as session:
        return list((await session.execute(select(Case))).scalars())


@pytest.mark.databases("sqlite", "postgres")
async def test_happy_path_files_a_case_with_every_field(app: Any) -> None:
    chat = chat_for(app)
    await run(chat, HAPPY)
    summary = chat.text
    for shown in (
        "蓝牙耳机",
        "索尼",
        "京东",
        "某某数码专营店",
        "2026-11-20",
        "¥399",
        "退款、赔偿",
        "张三",
        "13812345678",
        "北京市朝阳区建国路1号",
    ):
        assert shown in summary
    await chat.say("/confirm")
    match = re.search(r"TS\d{14}", chat.text)
    assert match, chat.text
    assert match.group(0) == "TS20261127000001"
    # 2026-11-27 (Friday) + 7 working days on the PRC calendar
    assert "2026-12-08" in chat.text
    assert chat.last[0].custom["case_no"] == match.group(0)

    [case] = await cases_of(app)
    assert case.case_no == match.group(0)
    assert case.status == "submitted"
    assert case.fields == {
        "product": "蓝牙耳机",
        "brand": "索尼",
        "model_no": "WH-1000XM5",
        "platform": "京东",
        "merchant": "某某数码专营店",
        "merchant_address": "https://shop.example.com/123",
        "order_no": "2026112012345",
        "purchase_date": "2026-11-20",
        "amount": 399,
        "problem": "耳机是假的，序列号官网查不到，音质很差，客服不理",
        "demand": ["refund", "compensation"],
        "claim_amount": 1197,
        "id_type": "",
        "consent_publish": True,
        "consent_mediation": False,
    }
    assert case.personal == {
        "name": "张三",
        "phone": "13812345678",
        "address": "北京市朝阳区建国路1号",
    }
    assert str(case.decision_due) == "2026-12-08"
    # The conversation is free again: the menu works.
    await chat.say("你好")
    assert "/complaint" in chat.buttons


async def test_correction_from_summary(app: Any) -> None:
    chat = chat_for(app)
    await run(chat, HAPPY)
    await chat.say("电话写错了")
    assert chat.awaiting == "phone"
    await chat.say("13900001111")
    assert chat.awaiting == "confirm"
    assert "13900001111" in chat.text and "13812345678" not in chat.text
    # A correction that carries the new value is applied at once.
    await chat.say("手机号写错了，应该是13700002222")
    assert chat.awaiting == "confirm"
    assert "13700002222" in chat.text
    # Choosing the field by button.
    await chat.say("/edit")
    assert chat.awaiting == "pick_field"
    await chat.say("/edit:brand")
    assert chat.awaiting == "brand"
    await chat.say("Philips")  # a brand of the lexicon is kept under its canonical name
    assert chat.awaiting == "confirm" and "· 品牌：飞利浦" in chat.text
    await chat.say("/confirm")
    [case] = await cases_of(app)
    assert case.personal["phone"] == "13700002222" and case.fields["brand"] == "飞利浦"


@pytest.mark.parametrize("cancel_after", [1, 5, 12, len(HAPPY)])
async def test_cancel_at_any_step_files_nothing(app: Any, cancel_after: int) -> None:
    chat = chat_for(app)
    await run(chat, HAPPY[:cancel_after])
    await chat.say("取消")
    if cancel_after > 1:  # answers given: asked first, nothing is thrown away unasked
        assert "要放弃这次投诉吗？已填的内容不会保存" in chat.text
        assert "/abandon" in chat.buttons and await cases_of(app) == []
        await chat.say("是")
    assert chat.awaiting is None
    assert "已取消" in chat.text
    assert await cases_of(app) == []
    await chat.say("1")  # the menu works again and a new form starts empty
    assert chat.awaiting == "product"


async def test_cancel_button_and_cancel_word_in_free_text(app: Any) -> None:
    chat = chat_for(app)
    await run(chat, HAPPY[:10])
    assert chat.awaiting == "problem"
    # A free answer that merely mentions cancelling an order is an answer, not a cancel.
    await chat.say("我取消订单后商家还是发了货，拆开发现是假货")
    assert chat.awaiting == "demand"
    await chat.say("/cancel")
    assert "要放弃这次投诉吗" in chat.text and chat.awaiting == "demand"
    await chat.say("/abandon")
    assert chat.awaiting is None and await cases_of(app) == []


@pytest.mark.databases("sqlite", "postgres")
async def test_resume_after_restart(settings: Any) -> None:
    async with running_app(settings) as app:
        chat = chat_for(app, sender="restart-user")
        await run(chat, HAPPY[:11])
        assert chat.awaiting == "demand"
    async with running_app(settings) as app:
        chat = chat_for(app, sender="restart-user")
        await chat.say("你好")
        assert chat.awaiting == "demand"
        assert "继续" in chat.text
        await run(chat, HAPPY[11:])
        await chat.say("/confirm")
        [case] = await cases_of(app)
        assert case.fields["problem"].startswith("耳机是假的")


@pytest.mark.databases("sqlite", "postgres")
async def test_photos_are_stored_and_attached(app: Any) -> None:
    chat = chat_for(app)
    await run(chat, HAPPY[:13])
    assert chat.awaiting == "photos"
    await chat.photo(seed=1)
    assert "第 1 张" in chat.text
    await chat.photo(seed=2)
    assert "第 2 张" in chat.text and chat.awaiting == "photos"
    await chat.say("/done")
    assert chat.awaiting == "name"
    await run(chat, HAPPY[14:])
    assert "照片证据：2 张" in chat.text
    await chat.say("/confirm")
    [case] = await cases_of(app)
    async with app.state.sessions() as session:
        attached = (
            (await session.execute(select(Evidence).where(Evidence.case_id == case.id)))
            .scalars()
            .all()
        )
    assert len(attached) == 2
    for item in attached:
        assert app.state.evidence.path_for(item.sha256).is_file()


async def test_tenth_photo_is_refused(app: Any) -> None:
    chat = chat_for(app)
    await run(chat, HAPPY[:13])
    for seed in range(9):
        await chat.photo(seed=seed)
    await chat.photo(seed=99)
    assert "最多只能上传 9 张" in chat.text
    async with app.state.sessions() as session:
        count = (await session.execute(select(func.count()).select_from(Evidence))).scalar_one()
    assert count == 10  # the file is kept as received, but not attached to the form


@pytest.mark.databases("sqlite", "postgres")
async def test_an_offered_id_document_is_kept_encrypted_with_the_complaint(app: Any) -> None:
    """Order 121 asks for the complainant's real identity: the document is offered (any the
    report accepts) and its number stored like the other personal data, never in clear."""
    chat = chat_for(app)
    address_at = next(i for i, (_, awaiting) in enumerate(HAPPY) if awaiting == "id_type")
    await run(chat, HAPPY[: address_at + 1])
    assert "可能会请您提供身份证件" in chat.text and "/skip" in chat.buttons
    assert "/choice:passport" in chat.buttons and "/choice:hkmo_permit" in chat.buttons
    await run(chat, [("护照", "id_number"), ("E123", "id_number")])
    assert "证件号码格式不对" in chat.text
    await run(chat, [("e12345678", "consent_publish"), ("/yes", "consent_mediation")])
    await run(chat, [("/no", "confirm")])
    assert "证件类型：护照" in chat.text and "E12345678" not in chat.text
    await chat.say("/confirm")
    [case] = await cases_of(app)
    assert case.fields["id_type"] == "passport"
    assert case.personal["id_number"] == "E12345678"
    async with app.state.sessions() as session:
        rows = (await session.execute(text('SELECT * FROM "cases"'))).all()
    assert "E12345678" not in repr(rows) and "张三" not in repr(rows)
