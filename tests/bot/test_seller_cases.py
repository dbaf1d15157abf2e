"""The seller as a business on a filed case: identity, region, office, credit listings for
staff, duplicate reports merged by business and region; and the credit check in chat."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bot.db.models import Case
from integrations.credit import importer, sample
from tests.bot.test_complaint_flow import HAPPY
from tests.factories import chat_for, run

pytestmark = pytest.mark.databases("sqlite")

SZ = sample.code("440305", "MA0XMPL01")  # SAMPLE: on both lists
SAME_NAME_CHENGDU = sample.code("510107", "MA0XMPL05")  # SAMPLE: same name, Chengdu


async def seed(app: Any) -> None:
    await importer.upsert(app.state.db_engine, list(sample.generate()))


async def cases_of(app: Any, kind: str) -> list[Case]:
    async with app.state.sessions() as session:
        stmt = (
            select(Case)
            .where(Case.kind == kind)
            .order_by(Case.id)
            .options(selectinload(Case.events))
        )
        return list((await session.execute(stmt)).scalars())


def complaint(merchant: str, address: str) -> list[tuple[str, str | None]]:
    turns = list(HAPPY)
    at = next(i for i, (_, awaiting) in enumerate(turns) if awaiting == "merchant_address")
    turns[at] = (merchant, "merchant_address")
    turns[at + 1] = (address, "order_no")
    return turns


@pytest.mark.databases("sqlite", "postgres")
async def test_a_complaint_with_the_credit_code_is_routed_and_carries_the_record(
    app: Any,
) -> None:
    await seed(app)
    chat = chat_for(app)
    await run(chat, complaint(f"星河数码 {SZ}", "https://shop.example.com/1"))
    await chat.say("/confirm")
    assert "TS20261127000001" in chat.text
    # The consumer is not shown the seller's listings; staff are.
    assert "经营异常" not in chat.text and "失信" not in chat.text
    [case] = await cases_of(app, "complaint")
    assert (case.respondent_uscc, case.region_code, case.office) == (SZ, "440305", "sz-nanshan")
    respondent = case.respondent
    assert respondent is not None
    assert respondent["shop"] == "星河数码" and respondent["region"]["source"] == "uscc"
    assert respondent["region"]["label"] == "广东省深圳市南山区"
    assert {r["list"] for r in respondent["credit"]} == {"abnormal", "serious"}
    assert all(r["match"] == "code" and r["uscc"] == SZ for r in respondent["credit"])


async def test_a_code_that_does_not_add_up_is_asked_again(app: Any) -> None:
    chat = chat_for(app)
    asked_merchant = next(i for i, (_, awaiting) in enumerate(HAPPY) if awaiting == "merchant")
    await run(chat, HAPPY[: asked_merchant + 1])
    await chat.say(f"星河数码 {SZ[:-1]}{'0' if SZ[-1] != '0' else '1'}")
    assert chat.awaiting == "merchant" and "统一社会信用代码" in chat.text and "不正确" in chat.text
    await chat.say("星河数码")
    assert chat.awaiting == "merchant_address"


async def test_a_region_that_cannot_be_told_stays_empty(app: Any) -> None:
    chat = chat_for(app)
    await run(chat, complaint("华为专卖店", "朝阳区建国路88号"))
    await chat.say("/confirm")
    [case] = await cases_of(app, "complaint")
    assert case.region_code is None and case.office is None
    assert case.respondent is not None and case.respondent["region"] is None


# The report form's answers by the step it asks (the order of steps is the form's own).
REPORT = {
    "target_type": "/choice:shop",
    "violation": "/choice:counterfeit_brand",
    "brand": "华为",
    "own_dispute": "/no",
    "seen": "11月20日在店里看到",
    "facts": "店里卖假冒的华为手机，价格只有正品一半，包装印刷模糊",
    "photos": "/skip",
    "relation": "/choice:none",
    "identity": "/choice:anonymous",
    "reward": "/no",
}


async def report(app: Any, address: str, name: str = "华为专卖店") -> str:
    chat = chat_for(app)
    answers = {**REPORT, "target_name": name, "target_location": address}
    await chat.say("我要举报")
    asked: list[str | None] = []
    while chat.awaiting != "confirm":
        step = chat.awaiting
        assert step in answers and step not in asked, f"asked {step!r} after {asked}: {chat.text}"
        asked.append(step)
        await chat.say(answers[step])
    await chat.say("/confirm")
    return chat.text


@pytest.mark.databases("sqlite", "postgres")
async def test_same_named_shops_in_two_cities_are_not_merged_but_proposed(app: Any) -> None:
    await report(app, "广东省深圳市福田区华强北路1002号")
    second = await report(app, "浙江省杭州市西湖区文三路259号")
    assert "合并" not in second
    shenzhen, hangzhou = await cases_of(app, "report")
    assert (shenzhen.region_code, hangzhou.region_code) == ("440304", "330106")
    assert hangzhou.duplicate_of_id is None and hangzhou.office == "hz-xihu"
    submitted = next(e for e in hangzhou.events if e.kind == "submitted")
    assert submitted.detail["possible_duplicates"] == [shenzhen.case_no]
    # The same name in the same district is the same shop: merged.
    third = await report(app, "深圳市福田区华强北路1002号赛格广场", name="华为 专卖店")
    assert "合并" in third
    *_, merged = await cases_of(app, "report")
    assert merged.duplicate_of_id == shenzhen.id


async def test_same_name_with_unknown_regions_is_proposed_not_merged(app: Any) -> None:
    await report(app, "朝阳区建国路88号")
    second = await report(app, "南山区科技园")
    assert "合并" not in second
    first, other = await cases_of(app, "report")
    assert other.duplicate_of_id is None
    submitted = next(e for e in other.events if e.kind == "submitted")
    assert submitted.detail["possible_duplicates"] == [first.case_no]


async def test_credit_check_in_chat_by_code_and_by_name(app: Any) -> None:
    await seed(app)
    chat = chat_for(app)
    await chat.say("帮我查一下这家店")
    assert "统一社会信用代码" in chat.text and "营业执照" in chat.text and "资质" in chat.text
    await chat.say(SZ)
    text = chat.text
    for shown in ("2025-06-12", "经营异常名录", "2025-11-03", "严重违法失信名单", "仍在名单上"):
        assert shown in text, text
    assert "示例数据" in text and "来源" in text and "不在名单上并不说明" in text
    # A removed listing says when it was removed.
    hz = sample.code("330106", "MA0XMPL02")
    await chat.say(f"查一下 {hz}")
    assert "已于 2024-12-20 移出" in chat.text
    # By name: two businesses share it; each shows its code, with the same-name caveat.
    await chat.say("查一下深圳市南山区星河数码商行")
    assert SZ in chat.text and SAME_NAME_CHENGDU in chat.text
    assert "同名的另一家企业" in chat.text
    # No record is not a clean bill of health.
    await chat.say(f"查查{sample.code('310115', 'MA0XMPL09')}")
    assert "没有" in chat.text and "不在名单上并不说明" in chat.text


async def test_credit_check_in_english_and_a_bad_code(app: Any) -> None:
    chat = chat_for(app, locale="en")
    await chat.say(f"check {SZ[:-1]}{'0' if SZ[-1] != '0' else '1'}")
    assert "does not add up" in chat.text
