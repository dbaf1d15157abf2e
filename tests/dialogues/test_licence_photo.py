"""A business licence photo (营业执照) sent during a complaint or report: its credit code (check
digit verified) and registered name are offered for the seller, "从营业执照识别到 …，填入吗？",
and what is filled identifies and routes the business when the case is filed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.business.identity import Sellers
from dialogues.actions import ReadPhoto
from dialogues.reading import PhotoReading, ReadField
from tests.dialogues.engine_double import EngineChat, sample_knowledge

LABELS = Path(__file__).resolve().parents[1] / "data" / "labels"


def truth(stem: str) -> dict[str, Any]:
    return json.loads((LABELS / f"{stem}.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


NANSHAN = truth("093-licence")  # a valid code registered in Shenzhen Nanshan
BAD = truth("096-licence")  # its check digit does not add up


def licence(evidence_id: int, t: dict[str, Any], sure: float = 0.97) -> PhotoReading:
    return PhotoReading(
        evidence_id,
        kind="licence",
        text=f"营业执照\n统一社会信用代码 {t['uscc']}\n名称 {t['business_name']}",
        fields=(
            ReadField("uscc", t["uscc"], sure),
            ReadField("business_name", t["business_name"], sure),
            ReadField("registered_address", t["registered_address"], sure),
        ),
    )


async def at_merchant() -> EngineChat:
    c = EngineChat(knowledge=await sample_knowledge(), photos=True)
    await c.say("/complaint")
    for answer in ("充电宝", "/skip", "/skip", "淘宝"):
        await c.say(answer)
    assert c.awaiting == "merchant", c.text
    return c


def read_id(c: EngineChat) -> int:
    return [a for a in c.office.reads if isinstance(a, ReadPhoto)][-1].evidence_id


async def test_a_licence_photo_at_the_seller_step_is_offered_and_fills_it() -> None:
    c = await at_merchant()
    await c.photo()
    await c.reading(licence(read_id(c), NANSHAN))
    offer = c.text
    assert "从营业执照识别到" in offer and "填入商家（被投诉人）吗？" in offer
    assert f"统一社会信用代码 {NANSHAN['uscc']}（校验位正确）" in offer
    assert NANSHAN["business_name"] in offer
    await c.say("/photofill:yes")
    filled = c.state["slots"]["merchant"]
    assert NANSHAN["uscc"] in filled and NANSHAN["business_name"] in filled
    assert c.awaiting == "merchant_address"  # the seller step is answered
    # What was filled identifies the business and routes the complaint where it is registered.
    seller = Sellers().identify("complaint", {"merchant": filled, "platform": "淘宝"})
    assert seller.uscc == NANSHAN["uscc"] and seller.name == NANSHAN["business_name"]
    assert seller.region is not None and seller.region.code == "440305"
    assert seller.office is not None and seller.office.key == "sz-nanshan"


async def test_a_licence_sent_after_the_shop_name_adds_to_it() -> None:
    c = await at_merchant()
    await c.say("星河数码")
    await c.photo()
    await c.reading(licence(read_id(c), NANSHAN))
    assert "从营业执照识别到" in c.text
    await c.say("/photofill:yes")
    filled = c.state["slots"]["merchant"]
    assert filled.startswith("星河数码 ") and NANSHAN["uscc"] in filled


async def test_a_report_offers_the_licence_for_its_target_in_english() -> None:
    c = EngineChat(knowledge=await sample_knowledge(), photos=True, locale="en")
    await c.say("/report")
    await c.say("/choice:online_shop")
    assert c.awaiting == "target_name", c.text
    await c.photo()
    await c.reading(licence(read_id(c), NANSHAN))
    assert "From the business licence I read" in c.text and "(check digit correct)" in c.text


async def test_a_code_whose_check_digit_fails_is_never_offered() -> None:
    c = await at_merchant()
    await c.photo()
    await c.reading(licence(read_id(c), BAD))
    assert "营业执照" not in c.text
    assert c.state.get("photo_fill") is None
    await c.say("星河数码")
    assert c.awaiting == "merchant_address"
