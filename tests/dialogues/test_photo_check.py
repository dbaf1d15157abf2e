"""Checking from a photo or a pasted listing, on the pure engine: the reading comes back as a
turn of its own; a low-confidence number is read back first; a verdict offers a prefilled
report, a complaint and a takedown draft; a photo in a form offers its fields to the form."""

from __future__ import annotations

from dialogues.actions import ReadPhoto
from dialogues.reading import PhotoReading, ReadField
from tests.dialogues.engine_double import EngineChat, sample_knowledge

VALID = "2024010914000001"  # SAMPLE-129D by 杭州正泰科电子 (valid)
REVOKED = "2023010914000003"


async def chat() -> EngineChat:
    return EngineChat(knowledge=await sample_knowledge(), photos=True)


def label(evidence_id: int, *fields: tuple[str, str, float], **kw: object) -> PhotoReading:
    return PhotoReading(evidence_id, fields=tuple(ReadField(*f) for f in fields), **kw)  # type: ignore[arg-type]


def read_id(c: EngineChat) -> int:
    reads = [a for a in c.office.reads if isinstance(a, ReadPhoto)]
    return reads[-1].evidence_id


async def test_a_photo_is_queued_for_reading_and_the_user_told_to_wait() -> None:
    c = await chat()
    await c.photo()
    assert "正在识别，请稍等" in c.text
    assert c.last[0].custom["reading"] == "pending"
    assert len(c.office.reads) == 1
    assert c.state["loose_evidence"] == [read_id(c)]


async def test_a_full_reader_says_try_again_in_a_minute_and_keeps_the_photo() -> None:
    c = await chat()
    c.office.reader_room = 0
    await c.photo()
    assert "一分钟后再发" in c.text
    assert "/complaint" in c.buttons  # still offered as evidence
    assert c.state["loose_evidence"]


async def test_a_confident_label_gets_the_verdict_and_the_one_tap_report() -> None:
    c = await chat()
    await c.photo()
    evidence = read_id(c)
    await c.reading(
        label(
            evidence,
            ("ccc_number", VALID, 0.97),
            ("model", "PB-2000", 0.93),
            ("manufacturer", "杭州正泰科电子有限公司", 0.9),
            kind="label",
        )
    )
    assert "3C证书编号：2024010914000001（识别把握 97%）" in c.text
    assert "状态：有效" in c.text
    assert "证书上的型号是 SAMPLE-129D，标签上是 PB-2000" in c.text
    assert "标签上的厂家与证书持证人相符" in c.text
    assert {"/checked:report", "/checked:complaint", "/checked:takedown"} <= set(c.buttons)
    await c.say("/checked:report")
    # The report starts with the maker and the read fields filled in, the photo attached.
    state = c.state
    assert state["flow"] == "report"
    assert state["slots"]["target_name"] == "杭州正泰科电子有限公司"
    assert "PB-2000" in state["slots"]["facts"]
    assert state["photos"] == [evidence]


async def test_a_low_confidence_number_is_read_back_before_any_lookup() -> None:
    c = await chat()
    await c.photo()
    await c.reading(label(read_id(c), ("ccc_number", "2024010914000007", 0.6)))
    assert c.text == "我识别到的编号是 2024010914000007，对吗？"
    assert "状态" not in c.text
    await c.say("/no")
    assert "请直接输入" in c.text
    await c.say(REVOKED)
    assert "状态：撤销" in c.text
    assert "/checked:takedown" in c.buttons


async def test_a_confirmed_number_is_checked() -> None:
    c = await chat()
    await c.photo()
    await c.reading(label(read_id(c), ("ccc_number", VALID, 0.7)))
    await c.say("对")
    assert "状态：有效" in c.text
    assert "识别把握 100%" in c.text  # confirmed by the user


async def test_a_photo_that_reads_as_nothing_gets_tips_for_a_better_photo() -> None:
    c = await chat()
    await c.photo()
    await c.reading(PhotoReading(read_id(c), text="  "))
    assert "没有识别出文字" in c.text
    assert "光线充足" in c.text
    assert "/report" in c.buttons


async def test_a_qr_link_is_shown_and_never_fetched() -> None:
    c = await chat()
    await c.photo()
    await c.reading(label(read_id(c), qr=("http://example.test/a?b=1",), text="扫码领红包"))
    assert "二维码内容：http://example.test/a?b=1" in c.text
    assert "没有打开" in c.text


async def test_a_drug_number_is_shape_checked_with_where_to_verify() -> None:
    c = await chat()
    await c.photo()
    await c.reading(label(read_id(c), ("drug_approval", "国药准字H12345678", 0.95)))
    assert "格式正确" in c.text
    assert "nmpa.gov.cn" in c.text


async def test_english_texts() -> None:
    c = EngineChat(knowledge=await sample_knowledge(), photos=True, locale="en")
    await c.photo()
    assert "Reading it" in c.text
    await c.reading(label(read_id(c), ("ccc_number", VALID, 0.5)))
    assert c.text == f"I read the number as {VALID}. Is that right?"


LISTING = """罗马仕 充电宝 20000毫安 超薄快充移动电源 PB-2000
￥59.00 月销 1万+ 包邮
罗马仕数码专营店
3C认证编号：2024010914000001 型号 PB-2000
https://item.example.com/123"""


async def test_a_pasted_listing_gets_the_listing_verdict_not_a_number_check() -> None:
    c = await chat()
    await c.say("查3C证书")
    await c.say(LISTING)
    assert "按商品信息来核对" in c.text
    assert "商品类型：移动电源" in c.text
    assert "证书 2024010914000001 的型号是 SAMPLE-129D，但商品页面上没有出现" in c.text
    assert "罗马仕数码专营店" in c.text
    await c.say("/checked:takedown")
    assert "下架" in c.text and "https://item.example.com/123" in c.text
    await c.say("/checked:report")
    slots = c.state["slots"]
    assert slots["target_name"] == "罗马仕数码专营店"
    assert slots["target_location"] == "https://item.example.com/123"
    assert "2024010914000001" in slots["facts"]


async def test_a_listing_screenshot_read_as_a_label_gets_the_listing_verdict() -> None:
    # The reader guessed "label" (the screenshot shows a certificate number and a model),
    # but the text reads as a listing: the shop and title are checked, not just the number.
    c = await chat()
    await c.photo()
    await c.reading(
        label(
            read_id(c),
            ("ccc_number", VALID, 0.97),
            ("model", "PB-2000", 0.95),
            kind="label",
            text=LISTING,
        )
    )
    assert "商品页面" in c.text
    assert "证书 2024010914000001 的型号是 SAMPLE-129D，但商品页面上没有出现" in c.text
    await c.say("/checked:report")
    assert c.state["slots"]["target_name"] == "罗马仕数码专营店"


async def test_an_unsure_model_is_shown_but_never_called_misuse() -> None:
    c = await chat()
    await c.photo()
    await c.reading(
        label(read_id(c), ("ccc_number", VALID, 0.97), ("model", "PB-2O00", 0.6), kind="label")
    )
    assert "型号：PB-2O00（识别把握 60%）" in c.text
    assert "状态：有效" in c.text
    assert "标签上是" not in c.text
    assert "/checked:takedown" not in c.buttons


async def test_a_listing_model_number_is_not_taken_for_a_certificate() -> None:
    c = await chat()
    await c.say("公牛插座 型号 GN-H3330 额定10A 公牛官方旗舰店 ￥39 月销5000")
    assert "按商品信息来核对" in c.text
    assert "没有找到3C证书编号" in c.text


async def test_a_consumer_story_is_not_a_listing() -> None:
    c = await chat()
    await c.say("我在京东公牛官方旗舰店买的插座，￥39，型号 GN-H3330，用了一天就坏了")
    assert "按商品信息来核对" not in c.text


async def test_a_photo_in_a_complaint_offers_its_fields_for_the_form() -> None:
    c = await chat()
    await c.say("/complaint")
    await c.photo()
    assert c.state["flow"] == "complaint"
    assert len(c.state["photos"]) == 1  # evidence first
    await c.reading(label(read_id(c), ("model", "PB-2000", 0.95), ("brand", "罗马仕", 0.9)))
    assert "从照片里识别到型号 PB-2000、品牌 罗马仕，填入吗？" in c.text
    await c.say("/photofill:yes")
    assert c.state["slots"]["model_no"] == "PB-2000"
    assert c.state["slots"]["brand"] == "罗马仕"
    assert c.awaiting == "product"
    await c.say("充电宝")
    assert c.awaiting == "platform"  # the form moved past the filled questions


async def test_a_declined_offer_leaves_the_form_as_it_was() -> None:
    c = await chat()
    await c.say("/complaint")
    await c.photo()
    await c.reading(label(read_id(c), ("model", "PB-2000", 0.95)))
    await c.say("/photofill:no")
    assert "model_no" not in c.state["slots"]
    assert c.awaiting == "product"


async def test_the_photo_check_menu_entry_invites_a_photo() -> None:
    c = await chat()
    await c.say("/photo")
    assert "请拍一张照片" in c.text
    await c.say("帮我看看这个是不是正品")
    assert "请拍一张照片" in c.text
