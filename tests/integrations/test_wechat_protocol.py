"""The WeChat webhook's protocol: Tencent's own sample, the three modes, and hostile input."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.db.models import InboundMessage as InboundRow
from integrations.wechat.envelope import sign
from tests.integrations.wechat_double import (
    AES_KEY,
    ORIGINAL_ID,
    TOKEN,
    Account,
    message_xml,
    new_msg_id,
    wechat_app,
    wechat_settings,
)

# Tencent's published sample (WXBizMsgCrypt demo): it must decrypt and be answered.
SAMPLE = {
    "token": "spamtest",
    "aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    "app_id": "wx2c2769f8efd9abc2",
    "timestamp": "1409735669",
    "nonce": "1320562132",
    "msg_signature": "5d197aaffba7e9b25a30732f161a50dee96bd5fa",
    "encrypt": (
        "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHF"
        "VAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsV"
        "ticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0"
        "VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ix"
        "rcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
    ),
}
BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    )
    + "]><xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>"
    "<MsgType>text</MsgType><Content>&lol9;</Content><MsgId>1</MsgId></xml>"
)
XXE = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>"
    "<MsgType>text</MsgType><Content>&xxe;</Content><MsgId>1</MsgId></xml>"
)


async def inbound_rows(app: Any) -> list[InboundRow]:
    async with app.state.sessions() as session:
        return list((await session.execute(select(InboundRow).order_by(InboundRow.id))).scalars())


@pytest.mark.databases("sqlite")
async def test_tencents_published_sample_decrypts_and_is_answered(settings: Any) -> None:
    wechat = wechat_settings(
        token=SAMPLE["token"], aes_key=SAMPLE["aes_key"], app_id=SAMPLE["app_id"]
    )
    # Signed in 2014: the server's clock is set a few seconds later to stay in the window.
    at = float(SAMPLE["timestamp"]) + 5
    async with wechat_app(settings, wechat, clock=lambda: at) as (app, http):
        body = (
            "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>"
            f"<Encrypt><![CDATA[{SAMPLE['encrypt']}]]></Encrypt></xml>"
        )
        params = {k: SAMPLE[k] for k in ("timestamp", "nonce", "msg_signature")} | {
            "encrypt_type": "aes"
        }
        response = await http.post("/webhooks/wechat", params=params, content=body)
        assert response.status_code == 200, response.text
        reply = Account(SAMPLE["token"], SAMPLE["aes_key"], SAMPLE["app_id"]).open_reply(response)
        assert reply["ToUserName"] == "oyORnuP8q7ou2gfYjqLzSIWZf0rs"
        assert reply["FromUserName"] == "gh_10f6c3c3ac5a"
        assert reply["MsgType"] == "text"
        assert "我要投诉" in reply["Content"]  # not understood → the menu, with its choices
        [row] = await inbound_rows(app)
        assert row.channel == "wechat"
        assert row.channel_message_id == "6054768590064713728"
        assert row.content["text"] == "abcdteT"


@pytest.mark.parametrize("mode", ["plain", "compatible", "safe"])
async def test_each_mode_is_answered_in_the_mode_it_came_in(
    sqlite_settings: Any, mode: str
) -> None:
    account = Account()
    # 明文模式 is an account without an EncodingAESKey; with one, plaintext is refused.
    wechat = wechat_settings(aes_key="") if mode == "plain" else wechat_settings()
    async with wechat_app(sqlite_settings, wechat) as (_app, http):
        response = await account.post(
            http, message_xml("text", "o_user_mode", Content="你好"), mode
        )
        assert response.status_code == 200, response.text
        raw = response.text
        assert ("<Encrypt>" in raw) == (mode != "plain")
        reply = account.open_reply(response)
        assert reply["ToUserName"] == "o_user_mode" and reply["FromUserName"] == ORIGINAL_ID
        assert "我要投诉" in reply["Content"]
        # In the sealed modes open_reply also checks the reply's MsgSignature, as WeChat does.


async def test_url_verification_echoes_echostr_only_for_our_signature(sqlite_settings: Any) -> None:
    async with wechat_app(sqlite_settings, wechat_settings()) as (_app, http):
        ts, nonce = str(int(time.time())), "n0nce"
        good = {
            "signature": sign(TOKEN, ts, nonce),
            "timestamp": ts,
            "nonce": nonce,
            "echostr": "e-123",
        }
        response = await http.get("/webhooks/wechat", params=good)
        assert response.status_code == 200 and response.text == "e-123"
        bad = good | {"signature": "0" * 40}
        assert (await http.get("/webhooks/wechat", params=bad)).status_code == 403
        missing = {k: v for k, v in good.items() if k != "signature"}
        assert (await http.get("/webhooks/wechat", params=missing)).status_code == 403
        no_echo = {k: v for k, v in good.items() if k != "echostr"}
        assert (await http.get("/webhooks/wechat", params=no_echo)).status_code == 400


@pytest.mark.parametrize("aes_key", [AES_KEY, ""], ids=["safe-mode", "plaintext-mode"])
async def test_bad_input_gets_400_403_413_and_never_a_500(
    sqlite_settings: Any, aes_key: str
) -> None:
    account = Account()
    wechat = wechat_settings(max_body_bytes=4096, aes_key=aes_key)
    async with wechat_app(sqlite_settings, wechat) as (app, http):

        async def post(params: dict[str, str], body: str | bytes) -> int:
            response = await http.post("/webhooks/wechat", params=params, content=body)
            return response.status_code

        text = message_xml("text", "o_hostile", Content="hi")
        params, body = account.request(text, "plain")
        assert await post(params | {"signature": "f" * 40}, body) == 403
        assert await post({k: v for k, v in params.items() if k != "signature"}, body) == 403
        if aes_key:
            # An account with a key takes only encrypted callbacks: plaintext is refused as such.
            response = await http.post("/webhooks/wechat", params=params, content=body)
            assert response.status_code == 403
            assert response.json()["error"] == "encryption_required"
            await check_safe_mode_input(account, text, post)
            assert await inbound_rows(app) == []
            return

        plain_params, _ = account.request(text, "plain")
        assert await post(plain_params, b"<xml><unclosed>") == 400
        assert await post(plain_params, b"") == 400
        assert await post(plain_params, b"\xff\xfe not xml") == 400
        assert await post(plain_params, b"<xml>text only</xml>") == 400
        assert (
            await post(plain_params, message_xml("text", "o_x").replace("<MsgId>", "<MsgId>x"))
            == 400
        )
        missing_from = text.replace("<FromUserName><![CDATA[o_hostile]]></FromUserName>", "")
        assert await post(plain_params, missing_from) == 400
        twice = text.replace("</xml>", "<Content>again</Content></xml>")
        assert await post(plain_params, twice) == 400

        started = time.monotonic()
        assert await post(plain_params, BILLION_LAUGHS) == 400
        assert await post(plain_params, XXE) == 400
        assert time.monotonic() - started < 2.0

        assert await post(plain_params, b"<xml>" + b"a" * 5000 + b"</xml>") == 413
        # Nothing hostile was stored.
        assert await inbound_rows(app) == []


async def check_safe_mode_input(account: Account, text: str, post: Any) -> None:
    """Forged, foreign and hostile ciphertexts to an account in safe mode."""
    params, body = account.request(text, "safe")
    assert await post(params | {"msg_signature": "f" * 40}, body) == 403
    assert await post({k: v for k, v in params.items() if k != "msg_signature"}, body) == 403
    # Someone else's account: signed with our token but encrypted for another AppID.
    other_params, other_body = Account(app_id="wx_someone_else").request(text, "safe")
    assert await post(other_params, other_body) == 400
    # Ciphertext that is not WeChat's, correctly signed.
    ts, nonce, junk = "1700000000", "abc", "bm90IHJlYWxseSBlbmNyeXB0ZWQ="
    junk_params = {
        "timestamp": ts,
        "nonce": nonce,
        "encrypt_type": "aes",
        "msg_signature": sign(TOKEN, ts, nonce, junk),
    }
    assert await post(junk_params, f"<xml><Encrypt>{junk}</Encrypt></xml>") == 400
    # Entity attacks inside the ciphertext of a correctly signed safe-mode message.
    started = time.monotonic()
    for attack in (BILLION_LAUGHS, XXE):
        attack_params, attack_body = account.request(attack, "safe")
        assert await post(attack_params, attack_body) == 400
    assert time.monotonic() - started < 2.0
    safe_params, _ = account.request(text, "safe")
    assert await post(safe_params, b"<xml>" + b"a" * 5000 + b"</xml>") == 413


async def test_an_unconfigured_server_does_not_pretend(sqlite_settings: Any) -> None:
    from integrations.wechat import WechatSettings

    async with wechat_app(sqlite_settings, WechatSettings(token="")) as (_app, http):
        assert (await http.get("/webhooks/wechat", params={"echostr": "x"})).status_code == 404
        assert (await http.post("/webhooks/wechat", content=b"<xml/>")).status_code == 404


async def test_safe_mode_needs_the_aes_key(sqlite_settings: Any) -> None:
    account = Account()
    async with wechat_app(sqlite_settings, wechat_settings(aes_key="")) as (_app, http):
        response = await account.post(http, message_xml("text", "o_nokey", Content="hi"), "safe")
        assert response.status_code == 400
        plain = await account.post(http, message_xml("text", "o_nokey", Content="hi"), "plain")
        assert plain.status_code == 200


def test_settings_refuse_a_malformed_aes_key() -> None:
    from pydantic import ValidationError

    from integrations.wechat import WechatSettings

    assert WechatSettings(aes_key=AES_KEY).aes_key == AES_KEY
    with pytest.raises(ValidationError):
        WechatSettings(aes_key="too-short")


async def test_a_duplicate_callback_changes_nothing(sqlite_settings: Any) -> None:
    account = Account()
    xml = message_xml("text", "o_dup_serial", msg_id=new_msg_id(), Content="/complaint")
    async with wechat_app(sqlite_settings, wechat_settings()) as (app, http):
        first = account.open_reply(await account.post(http, xml))
        again = account.open_reply(await account.post(http, xml, "compatible"))
        assert first["Content"] == again["Content"]
        async with app.state.sessions() as session:
            count = await session.scalar(select(func.count()).select_from(InboundRow))
        assert count == 1
