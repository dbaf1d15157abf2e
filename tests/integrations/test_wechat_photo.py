"""A photo checked over WeChat: the passive reply says it is being read, the verdict comes as a
customer-service message through the outbox, and its one-tap report files a report with the
label's maker and certificate number already filled in."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from bot.db.models import Case
from tests.factories import png_bytes
from tests.integrations.test_wechat_flow import LINK, WechatUser, step_of
from tests.integrations.wechat_double import (
    WechatDouble,
    double_server,  # noqa: F401  (the `double` fixture)
    wechat_app,
    wechat_settings,
)
from tests.photo_reader import ScriptedReader, label

VALID = "2024010914000001"  # in the app's registry only as a number: "not found" is a problem
OPENID = "o_photo_check_00000000000001"
# The report's remaining questions once the verdict filled in the maker and the facts.
REPORT_ANSWERS = {
    "target_location": ("say", "某电商平台的店铺"),
    "seen": ("say", "2026年11月网上购物时看到"),
    "own_dispute": ("click", "不是"),
    "photos": ("click", "完成"),
    "relation": ("click", "没有关系（普通消费者或知情人）"),
    "identity": ("click", "匿名举报"),
    "reward": ("say", "/no"),  # asked of every reporter, anonymous ones too
    "confirm": ("click", "确认提交"),
}


async def settle(app: Any) -> None:
    for _ in range(250):
        if not app.state.photos.tasks and app.state.photos.taken == 0:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the photo was never answered")


async def test_a_label_photo_answered_by_customer_service_then_reported_in_one_tap(
    sqlite_settings: Any, double: WechatDouble
) -> None:
    photo = png_bytes(11)
    double.media["MEDIA_LABEL_1"] = photo
    reader = ScriptedReader(seconds=0.3)
    reader.script(photo, label(VALID, model="PB-2000", maker="杭州正泰科电子有限公司"))
    wechat = wechat_settings(double, customer_service=True)
    async with wechat_app(sqlite_settings, wechat, photo_reader=reader) as (app, http):
        user = WechatUser(http, OPENID)
        await user.send("event", Event="CLICK", EventKey="/photo")
        assert "请拍一张照片" in user.reply
        passive = await user.send(
            "image", MediaId="MEDIA_LABEL_1", PicUrl="http://127.0.0.1:9/unused.jpg"
        )
        assert "正在识别，请稍等" in passive  # the passive reply, before anything is read
        assert double.sent == []
        await settle(app)
        while await app.state.outbox.run_once():
            pass
        [verdict] = double.sent_texts(OPENID)
        assert f"3C证书编号：{VALID}（识别把握 96%）" in verdict
        assert "型号：PB-2000" in verdict
        assert "没有查到这个编号" in verdict
        links = {title for (_c, _n, title) in LINK.findall(verdict)}
        assert "一键举报（已填好）" in links
        # Tapping the link in the customer-service message starts the report, prefilled.
        user.reply = verdict
        await user.click("一键举报（已填好）")
        submitted = ""
        for _ in range(12):
            step = await step_of(app, OPENID)
            if step is None:
                submitted = user.reply
                break
            how, answer = REPORT_ANSWERS[step]
            await (user.click(answer) if how == "click" else user.say(answer))
        assert "举报已提交" in submitted, user.reply

        async with app.state.sessions() as session:
            case = (await session.execute(select(Case))).scalar_one()
        assert case.kind == "report"
        assert case.case_no in submitted
        assert case.fields["target_type"] == "factory"
        assert case.fields["target_name"] == "杭州正泰科电子有限公司"
        assert VALID in case.fields["facts"] and "PB-2000" in case.fields["facts"]
        assert case.fields["violation"] == "forged_cert"
