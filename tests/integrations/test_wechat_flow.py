"""Conversations over WeChat: every message kind, clickable choices, a whole complaint."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bot.db.models import Case, Conversation, Evidence
from bot.db.models import InboundMessage as InboundRow
from tests.factories import png_bytes
from tests.integrations.wechat_double import (
    Account,
    WechatDouble,
    double_server,  # noqa: F401  (the `double` fixture)
    message_xml,
    wechat_app,
    wechat_settings,
)

LINK = re.compile(
    r'<a href="weixin://bizmsgmenu\?msgmenucontent=([^&"]*)&msgmenuid=(\d+)">([^<]*)</a>'
)


class WechatUser:
    """One follower talking to the account through signed, encrypted callbacks."""

    def __init__(self, http: httpx.AsyncClient, openid: str, mode: str = "safe") -> None:
        self.http = http
        self.openid = openid
        self.mode = mode
        self.account = Account()
        self.reply = ""

    async def send(self, kind: str, **fields: str) -> str:
        response = await self.account.post(
            self.http, message_xml(kind, self.openid, **fields), self.mode
        )
        assert response.status_code == 200, response.text
        if response.text == "success":
            self.reply = ""
            return ""
        fields_out = self.account.open_reply(response)
        assert fields_out["ToUserName"] == self.openid
        assert len(fields_out["Content"].encode()) <= 2048
        self.reply = fields_out["Content"]
        return self.reply

    async def say(self, text: str) -> str:
        return await self.send("text", Content=text)

    async def click(self, title: str) -> str:
        """Tap a ``bizmsgmenu`` link: WeChat sends its title with ``bizmsgmenuid``."""
        links = {t: n for (_c, n, t) in LINK.findall(self.reply)}
        assert title in links, f"no link {title!r} in {self.reply!r}"
        return await self.send("text", Content=title, bizmsgmenuid=links[title])

    @property
    def links(self) -> list[str]:
        return [t for (_c, _n, t) in LINK.findall(self.reply)]


async def step_of(app: Any, openid: str) -> str | None:
    async with app.state.sessions() as session:
        conversation = (
            await session.execute(
                select(Conversation).where(
                    Conversation.channel == "wechat",
                    Conversation.sender_id == app.state.senders.sender_id("wechat", openid),
                )
            )
        ).scalar_one()
        return conversation.state.get("step")


async def test_a_whole_complaint_with_a_photo_in_safe_mode(
    settings: Any, double: WechatDouble
) -> None:
    photo = png_bytes(7)
    double.media["MEDIA_PHOTO_1"] = photo
    async with wechat_app(settings, wechat_settings(double)) as (app, http):
        user = WechatUser(http, "o_complainant_0000000000001")
        assert "您好" in await user.send("event", Event="subscribe")
        assert {"我要投诉", "使用帮助"} <= set(user.links)
        await user.send("event", Event="CLICK", EventKey="/complaint")
        assert await step_of(app, user.openid) == "product"
        turns = [
            ("say", "蓝牙耳机", "brand"),
            ("say", "索尼", "model_no"),
            ("click", "没有型号", "platform"),
            ("click", "京东", "merchant"),
            ("say", "某某数码专营店", "merchant_address"),
            ("say", "https://shop.example.com/123", "order_no"),
            ("say", "订单号 2026112012345", "purchase_date"),
            ("say", "2026-11-20", "amount"),
            ("say", "399元", "problem"),
            ("say", "耳机是假的]]>序列号官网查不到，客服不理", "demand"),
            ("click", "退款", "demand"),
            ("click", "赔偿", "demand"),
            ("click", "选好了", "claim_amount"),
            ("say", "1197元", "photos"),
        ]
        for how, what, step in turns:
            await (user.click(what) if how == "click" else user.say(what))
            assert await step_of(app, user.openid) == step, f"after {what!r}: {user.reply}"
        reply = await user.send(
            "image", MediaId="MEDIA_PHOTO_1", PicUrl="http://127.0.0.1:9/unused.jpg"
        )
        sha = hashlib.sha256(photo).hexdigest()
        assert sha[:12] in reply
        await user.say("完成")  # typing a button's title works like tapping it
        assert await step_of(app, user.openid) == "name"
        await user.say("张三")
        await user.say("13812345678")
        # Sending a location answers the address question with the place's label.
        await user.send(
            "location",
            Location_X="39.9",
            Location_Y="116.4",
            Scale="15",
            Label="北京市朝阳区建国路1号",
        )
        assert await step_of(app, user.openid) == "id_type"
        await user.click("暂不提供")
        assert await step_of(app, user.openid) == "consent_publish"
        await user.say("1")  # the first numbered choice: 同意
        await user.click("不同意")
        assert await step_of(app, user.openid) == "confirm"
        assert "耳机是假的]]>序列号" in user.reply  # echoed back intact through CDATA
        assert "¥399" in user.reply and "北京市朝阳区建国路1号" in user.reply
        submitted = await user.click("确认提交")
        case_no = re.search(r"TS\d{14}", submitted)
        assert case_no, submitted

        async with app.state.sessions() as session:
            case = (
                await session.execute(select(Case).options(selectinload(Case.evidence)))
            ).scalar_one()
        assert case.case_no == case_no.group(0)
        hashed = app.state.senders.sender_id("wechat", user.openid)
        assert case.channel == "wechat" and case.sender_id == hashed
        assert case.fields["platform"] == "京东"
        assert case.fields["demand"] == ["refund", "compensation"]
        assert case.fields["consent_publish"] is True and case.fields["consent_mediation"] is False
        assert case.personal == {
            "name": "张三",
            "phone": "13812345678",
            "address": "北京市朝阳区建国路1号",
        }
        assert [e.sha256 for e in case.evidence] == [sha]
        assert app.state.evidence.read(sha) == photo
        # The photo came through the media API with a token from the token endpoint.
        [media_call] = double.calls_to("/cgi-bin/media/get")
        assert media_call.params["media_id"] == "MEDIA_PHOTO_1"
        assert len(double.calls_to("/cgi-bin/token")) == 1

        # The status question, typed and from the menu, lists the case just filed.
        status = await user.say("我的投诉怎么样了")
        assert case.case_no in status and "已收到，待处理" in status
        assert case.case_no in await user.send("event", Event="CLICK", EventKey="/status")
        # A number that is not this user's answers like an unknown one.
        assert case.case_no not in await user.say("查询 TS20260101000001")


async def test_every_message_kind(sqlite_settings: Any, double: WechatDouble) -> None:
    double.pictures["p1.jpg"] = png_bytes(3)
    # A plaintext-mode account (no AES key) whose PicUrl host is the double's.
    wechat = wechat_settings(double, aes_key="", pic_hosts="127.0.0.1")
    async with wechat_app(sqlite_settings, wechat) as (app, http):
        user = WechatUser(http, "o_kinds_000000000000000001", mode="plain")
        # Voice with WeChat's speech recognition is read as typed text.
        await user.send("voice", MediaId="v1", Format="amr", Recognition="菜单。")
        assert "我要投诉" in user.links
        # Without recognition the user is asked to type.
        assert "文字" in await user.send("voice", MediaId="v2", Format="amr")
        # A photo outside a form is kept; media API fails (unknown id), PicUrl is the fallback.
        reply = await user.send("image", MediaId="gone", PicUrl=f"{double.base_url}pics/p1.jpg")
        assert hashlib.sha256(png_bytes(3)).hexdigest()[:12] in reply
        # Kinds we cannot use get a short explanation.
        assert "文字" in await user.send(
            "link", Title="t", Description="d", Url="https://example.com"
        )
        assert "文字" in await user.send("video", MediaId="m", ThumbMediaId="t")
        # A location outside a form is just text the bot does not understand: the menu.
        await user.send("location", Location_X="1", Location_Y="2", Scale="3", Label="某地")
        assert "我要投诉" in user.links
        # Events that need no answer get "success" and are not stored.
        before = await count_inbound(app)
        assert await user.send("event", Event="unsubscribe") == ""
        assert await user.send("event", Event="VIEW", EventKey="https://example.com") == ""
        assert (
            await user.send("event", Event="LOCATION", Latitude="1", Longitude="2", Precision="3")
            == ""
        )
        assert await count_inbound(app) == before
        # A menu click starts its flow; subscribing greets with the menu.
        assert "投诉" in await user.send("event", Event="CLICK", EventKey="/complaint")
        assert await step_of(app, user.openid) == "product"
        await user.say("取消")
        await user.click("放弃")  # leaving a form is confirmed first
        assert await step_of(app, user.openid) is None
        assert "您好" in await user.send("event", Event="subscribe", EventKey="qrscene_42")

        async with app.state.sessions() as session:
            kinds = [
                r.kind
                for r in (
                    await session.execute(select(InboundRow).order_by(InboundRow.id))
                ).scalars()
            ]
            photos = list((await session.execute(select(Evidence))).scalars())
        # "取消" is the title of the form's cancel button, so it arrives as that button.
        assert kinds == [
            "text",
            "voice",
            "photo",
            "other",
            "other",
            "text",
            "button",
            "button",
            "button",
            "event",
        ]
        assert [p.source for p in photos] == ["wechat"]


async def count_inbound(app: Any) -> int:
    async with app.state.sessions() as session:
        return len(list((await session.execute(select(InboundRow.id))).scalars()))


async def test_typed_numbers_map_to_choices_only_where_choices_are_numbered(
    sqlite_settings: Any,
) -> None:
    async with wechat_app(sqlite_settings, wechat_settings(aes_key="")) as (app, http):
        user = WechatUser(http, "o_numbers_0000000000000001", mode="plain")
        await user.say("你好")
        await user.say("1")  # menu item 1
        assert await step_of(app, user.openid) == "product"
        for answer in ("耳机", "索尼"):
            await user.say(answer)
        assert await step_of(app, user.openid) == "model_no"
        assert user.reply.count("1. <a") == 1  # its choices (没有型号, 取消) are numbered
        await user.say("1")  # choice 1: 没有型号
        assert await step_of(app, user.openid) == "platform"
        await user.say("2")  # platform choice 2 (天猫)
        assert await step_of(app, user.openid) == "merchant"
        for answer in ("某店", "https://shop.example.com/1", "/skip", "2026-11-01"):
            await user.say(answer)
        assert await step_of(app, user.openid) == "amount"
        await user.say("1")  # one yuan, not the only button (取消)
        assert await step_of(app, user.openid) == "problem"
        async with app.state.sessions() as session:
            conversation = (await session.execute(select(Conversation))).scalar_one()
        assert conversation.state["slots"]["platform"] == "天猫"
        assert conversation.state["slots"]["amount"] == 1
        assert conversation.state["slots"]["model_no"] == ""  # 没有型号, as when tapped
