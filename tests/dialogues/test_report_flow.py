"""Transcript tests for tip-off reports: photos, identity, reward, duplicates, linked complaint."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from bot.db.models import Case, Evidence, OutboxMessage
from bot.db.models import InboundMessage as Inbound
from bot.db.models import TranscriptEntry as Message
from bot.staff.passwords import verify_password
from tests.factories import chat_for, run

VALID_ID = "11010519491231002X"  # the published sample number; its check digit is right
BAD_ID = "110105194912310021"  # same number, wrong check digit

OPENING = [
    ("我要举报", "target_type"),
    ("/choice:online_shop", "target_name"),
    ("某某 数码专营店", "target_location"),
    ("https://shop12345.taobao.com/?spm=a1z10", "violation"),
    ("/choice:counterfeit_brand", "brand"),
    ("索尼", "own_dispute"),
    ("/no", "seen"),
    ("11月20日在淘宝上看到", "facts"),
    ("店里大量卖假冒的索尼耳机，价格只有正品三分之一，包装印刷模糊", "photos"),
]


async def reports(app: Any) -> list[Case]:
    async with app.state.sessions() as session:
        stmt = select(Case).where(Case.kind == "report").order_by(Case.id)
        return list((await session.execute(stmt)).scalars())


async def test_real_name_report_with_three_photos_and_a_reward_request(app: Any) -> None:
    chat = chat_for(app)
    await run(chat, OPENING)
    for seed in (1, 2, 3):
        await chat.photo(seed=seed)
        assert f"第 {seed} 张照片" in chat.text and chat.awaiting == "photos"
    await run(chat, [("/done", "relation"), ("/choice:none", "identity")])
    assert "匿名举报" in chat.text and "实名举报" in chat.text
    await run(chat, [("/choice:real_name", "reward")])
    # Conditions and the three levels from the data file; no amount promised.
    for shown in ("5%", "5,000", "3%", "3,000", "1%", "1,000", "1,000,000", "不能承诺"):
        assert shown in chat.text, chat.text
    await run(chat, [("/yes", "name"), ("王五", "id_number")])
    await chat.say(BAD_ID)
    assert chat.awaiting == "id_number" and "身份证号不正确" in chat.text
    await run(chat, [(VALID_ID, "phone"), ("13912345678", "confirm")])
    assert "1101**********002X" in chat.text and VALID_ID not in chat.text
    await chat.say("/confirm")
    number = re.search(r"JB\d{14}", chat.text)
    assert number and number.group(0) == "JB20261127000001", chat.text
    assert "2026-12-18" in chat.text  # 15 working days on the PRC calendar
    assert "告知您结果" in chat.text  # a real-name reporter hears whether a case is opened
    assert "合并" not in chat.text

    [case] = await reports(app)
    assert case.personal == {"name": "王五", "id_number": VALID_ID, "phone": "13912345678"}
    assert case.fields["target_name"] == "某某 数码专营店"
    assert case.fields["violation"] == "counterfeit_brand"
    assert case.fields["reward"] is True and case.fields["own_dispute"] is False
    assert case.reward_checklist == {
        "reward_requested": True,
        "identified_reporter": "met",
        "specific_target": "met",
        "key_evidence": "staff",
        "major_violation": "staff",
        "own_dispute": False,
        "identity_code": None,
    }
    async with app.state.sessions() as session:
        photos = list(
            (await session.execute(select(Evidence).where(Evidence.case_id == case.id))).scalars()
        )
    assert len(photos) == 3 and all(len(p.sha256) == 64 for p in photos)


async def test_anonymous_report_without_a_reward_asks_no_identity(app: Any) -> None:
    chat = chat_for(app)
    await run(
        chat, [*OPENING, ("/skip", "relation"), ("/choice:none", "identity"), ("匿名", "reward")]
    )
    titles = [b.title for r in chat.last for b in r.buttons]
    assert titles[:2] == ["申请", "不申请"]
    await run(chat, [("/no", "confirm")])
    await chat.say("/confirm")
    assert "JB20261127" in chat.text and "无法告知您处理结果" in chat.text
    assert "身份代码" not in chat.text
    [case] = await reports(app)
    assert case.personal == {}
    assert case.fields["reward"] is False and "identity_code" not in case.fields
    assert case.reward_checklist is not None
    assert case.reward_checklist["identified_reporter"] == "not_met"
    assert case.reward_checklist["key_evidence"] == "not_met"


@pytest.mark.databases("sqlite", "postgres")
async def test_same_target_within_30_days_is_merged(app: Any) -> None:
    first = chat_for(app)
    await run(
        first,
        [
            *OPENING,
            ("/skip", "relation"),
            ("/choice:none", "identity"),
            ("/choice:anonymous", "reward"),
            ("/no", "confirm"),
        ],
    )
    await first.say("/confirm")
    second = chat_for(app)
    # Same shop typed differently, the link with another tracking parameter and www.
    turns = list(OPENING)
    turns[2] = ("某某数码专营店", "target_location")
    turns[3] = ("https://www.shop12345.taobao.com/?spm=xyz", "violation")
    await run(
        second,
        [
            *turns,
            ("/skip", "relation"),
            ("/choice:none", "identity"),
            ("/choice:anonymous", "reward"),
            ("/no", "confirm"),
        ],
    )
    await second.say("/confirm")
    assert "合并" in second.text
    assert "JB20261127000001" not in second.text  # never another reporter's number
    original, duplicate = await reports(app)
    assert duplicate.duplicate_of_id == original.id and original.duplicate_of_id is None
    other = chat_for(app)
    turns = list(OPENING)
    turns[2] = ("另一家店", "target_location")
    turns[3] = ("https://other.example.com/shop/9", "violation")
    await run(
        other,
        [
            *turns,
            ("/skip", "relation"),
            ("/choice:none", "identity"),
            ("/choice:anonymous", "reward"),
            ("/no", "confirm"),
        ],
    )
    await other.say("/confirm")
    assert "合并" not in other.text


async def test_own_dispute_keeps_the_reward_question_and_offers_a_linked_complaint(
    app: Any,
) -> None:
    chat = chat_for(app)
    turns = [*OPENING[:6], ("/yes", "seen"), *OPENING[7:], ("/skip", "relation")]
    turns.append(("/choice:none", "identity"))
    await run(chat, turns)
    # A consumer who bought the fake is not clearly excluded from a reward: staff decide.
    await run(chat, [("/choice:real_name", "reward"), ("/no", "name")])
    await run(chat, [("王五", "phone"), ("13912345678", "confirm")])
    await chat.say("/confirm")
    assert "属于投诉" in chat.text and "/link:complaint" in chat.buttons
    report_no = re.search(r"JB\d{14}", chat.text)
    assert report_no
    await chat.say("/link:complaint")
    assert report_no.group(0) in chat.text
    # The shop, its link and the brand carried over: the complaint asks what was bought first and
    # skips the merchant questions later.
    asked = []
    answers = {
        "product": "蓝牙耳机",
        "model_no": "/skip",
        "platform": "淘宝",
        "order_no": "/skip",
        "purchase_date": "2026-11-20",
        "amount": "199元",
        "problem": "买到的是假耳机，商家拒绝退款",
        "demand": "退款",
        "photos": "/skip",
        "name": "王五",
        "phone": "13912345678",
        "address": "上海市浦东新区世纪大道100号",
        "id_type": "/skip",
        "consent_publish": "/no",
        "consent_mediation": "/yes",
    }
    while chat.awaiting not in (None, "confirm"):
        asked.append(chat.awaiting)
        await chat.say(answers[chat.awaiting])
    assert "merchant" not in asked and "merchant_address" not in asked and "brand" not in asked
    await chat.say("/confirm")
    complaint_no = re.search(r"TS\d{14}", chat.text)
    assert complaint_no and report_no.group(0) in chat.text
    async with app.state.sessions() as session:
        cases = {c.case_no: c for c in (await session.execute(select(Case))).scalars()}
    assert cases[report_no.group(0)].linked_case_no == complaint_no.group(0)
    assert cases[complaint_no.group(0)].linked_case_no == report_no.group(0)
    assert cases[complaint_no.group(0)].fields["merchant"] == "某某 数码专营店"
    assert cases[complaint_no.group(0)].fields["brand"] == "索尼"
    checklist = cases[report_no.group(0)].reward_checklist
    assert checklist is not None and checklist["own_dispute"] is True


async def test_tenth_photo_is_refused_politely(app: Any) -> None:
    chat = chat_for(app)
    await run(chat, OPENING)
    for seed in range(9):
        await chat.photo(seed=seed)
    await chat.photo(seed=99)
    assert "最多 9 张" in chat.text and chat.awaiting == "photos"
    await run(
        chat,
        [
            ("/done", "relation"),
            ("/choice:none", "identity"),
            ("/choice:anonymous", "reward"),
            ("/no", "confirm"),
        ],
    )
    assert "9 张" in chat.text
    await chat.say("/confirm")
    [case] = await reports(app)
    async with app.state.sessions() as session:
        attached = list(
            (await session.execute(select(Evidence).where(Evidence.case_id == case.id))).scalars()
        )
    assert len(attached) == 9


async def test_anonymous_reporter_applies_for_a_reward_with_a_code_and_a_hashed_password(
    app: Any,
) -> None:
    chat = chat_for(app)
    await run(
        chat,
        [
            *OPENING,
            ("/skip", "relation"),
            ("/choice:none", "identity"),
            ("/choice:anonymous", "reward"),
        ],
    )
    await run(chat, [("/yes", "report_password")])
    assert "举报密码" in chat.text and "身份代码" in chat.text
    await chat.say("猫猫猫")  # too short: asked again, nothing kept
    assert chat.awaiting == "report_password" and "6 到 64" in chat.text
    await run(chat, [("月光下的7只猫", "confirm")])
    assert "月光下的7只猫" not in chat.text and "已设置" in chat.text
    await chat.say("/confirm")
    code = re.search(r"身份代码：(NM[2-9A-HJ-NP-Z]{8})", chat.text)
    assert code, chat.text
    assert "领取奖励时要凭代码和密码证明身份" in chat.text
    [case] = await reports(app)
    assert case.fields["identity_code"] == code.group(1)
    stored = case.personal["report_password"]
    assert stored.startswith("$argon2id$") and "月光下的7只猫" not in stored
    assert case.reward_checklist is not None
    assert case.reward_checklist["identified_reporter"] == "met"
    assert case.reward_checklist["identity_code"] == code.group(1)
    # Neither the transcript nor the stored inbound message keeps the password.
    async with app.state.sessions() as session:
        said = [
            m.text
            for m in (
                await session.execute(
                    select(Message).where(Message.conversation_id == case.conversation_id)
                )
            ).scalars()
        ]
        inbound = [
            str(i.content)
            for i in (
                await session.execute(
                    select(Inbound).where(Inbound.conversation_id == case.conversation_id)
                )
            ).scalars()
        ]
    assert said and not any("月光下的7只猫" in (s or "") for s in said)
    assert inbound and not any("月光下的7只猫" in s for s in inbound)
    assert not any("猫猫猫" in (s or "") for s in said)  # the rejected try neither
    assert verify_password(stored, "月光下的7只猫")
    assert not verify_password(stored, "月光下的8只猫")


async def test_a_later_reporter_of_the_same_matter_is_told_the_first_is_rewarded(app: Any) -> None:
    first = chat_for(app)
    await run(
        first,
        [
            *OPENING,
            ("/skip", "relation"),
            ("/choice:none", "identity"),
            ("/choice:anonymous", "reward"),
        ],
    )
    await run(first, [("/no", "confirm")])
    await first.say("/confirm")
    assert "最先登记" not in first.text
    second = chat_for(app)
    await run(
        second,
        [
            *OPENING,
            ("/skip", "relation"),
            ("/choice:none", "identity"),
            ("/choice:anonymous", "reward"),
        ],
    )
    await run(second, [("/yes", "report_password"), ("abcdef123", "confirm")])
    await second.say("/confirm")
    assert "合并" in second.text and "奖励给最先登记的举报人" in second.text


ENGLISH_OPENING = [
    ("I want to report a shop selling fakes", "target_type"),
    ("/choice:online_shop", "target_name"),
    ("Gadget World Store", "target_location"),
    ("https://shop12345.taobao.com/?spm=a1z10", "violation"),
    ("/choice:counterfeit_brand", "brand"),
    ("Sony", "own_dispute"),
    ("/no", "seen"),
    ("On Taobao, last week", "facts"),
    ("They sell fake Sony headphones at a third of the real price.", "photos"),
    ("/skip", "relation"),
    ("/choice:none", "identity"),
    ("/choice:anonymous", "reward"),
    ("/yes", "report_password"),
    ("secret-pass-1", "confirm"),
]


async def pushes_to(app: Any, sender: str) -> list[str]:
    async with app.state.sessions() as session:
        rows = (await session.execute(select(OutboxMessage))).scalars().all()
    return [r.payload["text"] for r in rows if r.payload.get("recipient_id") == sender]


@pytest.mark.databases("sqlite", "postgres")
async def test_the_first_reporter_is_told_in_their_language_when_a_later_report_is_merged(
    app: Any,
) -> None:
    first = chat_for(app, channel="telegram", sender="4242", locale="en-US")
    await run(first, ENGLISH_OPENING)
    await first.say("/confirm")
    first_no = re.search(r"JB\d{14}", first.text)
    assert first_no and await pushes_to(app, "4242") == []
    second = chat_for(app, channel="telegram", sender="4343")
    turns = list(OPENING)
    turns[2] = ("某某数码专营店", "target_location")
    await run(second, [*turns, ("/skip", "relation"), ("/choice:none", "identity")])
    await run(second, [("/choice:anonymous", "reward"), ("/no", "confirm")])
    await second.say("/confirm")
    second_no = re.search(r"JB\d{14}", second.text)
    assert second_no and "合并" in second.text
    [told] = await pushes_to(app, "4242")
    assert "merged into your report " + first_no.group(0) in told
    assert "your place for it is unchanged" in told
    assert second_no.group(0) not in told  # never another reporter's number
    assert await pushes_to(app, "4343") == []  # the later reporter hears it in the reply
