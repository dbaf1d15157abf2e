"""A local stand-in for WeChat: its API as a real HTTP server, and its servers' callbacks.

``WechatDouble`` serves the endpoints the channel calls (token, customer-service send,
temporary media, menu) on a free local port, in its own thread, so the real wechatpy
client (synchronous ``requests``) talks to it over TCP. ``Account`` builds, signs and
encrypts callbacks exactly as WeChat's servers do, with wechatpy's own crypto.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from wechatpy.crypto import WeChatCrypto

from bot.app import create_app
from bot.settings import Settings
from integrations.wechat import WechatExtension, WechatSettings, xmlcodec
from integrations.wechat.envelope import sign

TOKEN = "weiquan-test-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APP_ID = "wx0123456789abcdef"
SECRET = "test-app-secret"
ORIGINAL_ID = "gh_0123456789ab"


@dataclass
class Call:
    path: str
    params: dict[str, str]
    body: Any = None


@dataclass
class WechatDouble:
    """Records every call; ``send_errors`` are returned (in order) by customer-service sends."""

    calls: list[Call] = field(default_factory=list)
    media: dict[str, bytes] = field(default_factory=dict)
    pictures: dict[str, bytes] = field(default_factory=dict)
    send_errors: list[int] = field(default_factory=list)
    # Users whose 48-hour window closed: customer-service sends to them answer 45015.
    outside_window: set[str] = field(default_factory=set)
    # Users who never accepted (or withdrew) the subscription template: bizsend answers 43101.
    refused_subscription: set[str] = field(default_factory=set)
    valid_tokens: set[str] = field(default_factory=set)
    issued: int = 0
    port: int = 0
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def calls_to(self, path: str) -> list[Call]:
        return [c for c in self.calls if c.path == path]

    @property
    def sent(self) -> list[dict[str, Any]]:
        """Customer-service messages that WeChat accepted."""
        return [c.body for c in self.calls_to("/cgi-bin/message/custom/send") if c.body.get("_ok")]

    @property
    def subscription_messages(self) -> list[dict[str, Any]]:
        """Subscription messages (订阅通知) that WeChat accepted."""
        path = "/cgi-bin/message/subscribe/bizsend"
        return [c.body for c in self.calls_to(path) if c.body.get("_ok")]

    def sent_texts(self, openid: str | None = None) -> list[str]:
        return [m["text"]["content"] for m in self.sent if openid is None or m["touser"] == openid]

    def revoke_tokens(self) -> None:
        """As if another party fetched a new token: the old ones stop working."""
        self.valid_tokens.clear()

    # ---- endpoints ----------------------------------------------------------------------
    def _record(self, request: Request, body: Any = None) -> Call:
        call = Call(request.url.path, dict(request.query_params), body)
        self.calls.append(call)
        return call

    def _token_ok(self, request: Request) -> bool:
        return request.query_params.get("access_token", "") in self.valid_tokens

    async def token(self, request: Request) -> Response:
        self._record(request)
        params = request.query_params
        if params.get("appid") != APP_ID or params.get("secret") != SECRET:
            return JSONResponse({"errcode": 40013, "errmsg": "invalid appid"})
        self.issued += 1
        token = f"ACCESS-{self.issued}-{uuid.uuid4().hex[:6]}"
        self.valid_tokens.add(token)
        return JSONResponse({"access_token": token, "expires_in": 7200})

    async def send(self, request: Request) -> Response:
        body = json.loads(await request.body())
        call = self._record(request, body)
        if not self._token_ok(request):
            return JSONResponse({"errcode": 40001, "errmsg": "invalid credential"})
        if self.send_errors:
            code = self.send_errors.pop(0)
            return JSONResponse({"errcode": code, "errmsg": f"scripted error {code}"})
        if body.get("touser") in self.outside_window:
            return JSONResponse({"errcode": 45015, "errmsg": "response out of time limit"})
        call.body["_ok"] = True
        return JSONResponse({"errcode": 0, "errmsg": "ok"})

    async def subscribe_send(self, request: Request) -> Response:
        body = json.loads(await request.body())
        call = self._record(request, body)
        if not self._token_ok(request):
            return JSONResponse({"errcode": 40001, "errmsg": "invalid credential"})
        if body.get("touser") in self.refused_subscription:
            return JSONResponse({"errcode": 43101, "errmsg": "user refuse to accept the msg"})
        if not body.get("template_id") or not isinstance(body.get("data"), dict):
            return JSONResponse({"errcode": 47003, "errmsg": "argument invalid"})
        call.body["_ok"] = True
        return JSONResponse({"errcode": 0, "errmsg": "ok"})

    async def media_get(self, request: Request) -> Response:
        self._record(request)
        if not self._token_ok(request):
            return JSONResponse({"errcode": 40001, "errmsg": "invalid credential"})
        data = self.media.get(request.query_params.get("media_id", ""))
        if data is None:
            return JSONResponse({"errcode": 40007, "errmsg": "invalid media_id"})
        return Response(data, media_type="image/jpeg")

    async def menu_create(self, request: Request) -> Response:
        self._record(request, json.loads(await request.body()))
        if not self._token_ok(request):
            return JSONResponse({"errcode": 40001, "errmsg": "invalid credential"})
        return JSONResponse({"errcode": 0, "errmsg": "ok"})

    async def picture(self, request: Request) -> Response:
        self._record(request)
        data = self.pictures.get(request.path_params["name"])
        return Response(data, media_type="image/jpeg") if data else Response(status_code=404)

    async def redirect(self, request: Request) -> Response:
        """A host that answers with a redirect to ``?to=`` (somewhere else)."""
        self._record(request)
        return Response(status_code=302, headers={"location": request.query_params["to"]})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/cgi-bin/token", self.token),
                Route("/cgi-bin/message/custom/send", self.send, methods=["POST"]),
                Route("/cgi-bin/message/subscribe/bizsend", self.subscribe_send, methods=["POST"]),
                Route("/cgi-bin/media/get", self.media_get),
                Route("/cgi-bin/menu/create", self.menu_create, methods=["POST"]),
                Route("/pics/{name}", self.picture),
                Route("/redirect", self.redirect),
            ]
        )

    # ---- lifecycle ----------------------------------------------------------------------
    def start(self) -> WechatDouble:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        config = uvicorn.Config(
            self.app(), host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the WeChat double did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)


# ---- the callbacks WeChat's servers make ------------------------------------------------


def message_xml(
    kind: str, openid: str, *, msg_id: int | None = None, created: int | None = None, **fields: str
) -> str:
    """A callback body as WeChat sends it (plaintext)."""
    created = created if created is not None else int(time.time())
    parts = [
        f"<ToUserName>{xmlcodec.cdata(ORIGINAL_ID)}</ToUserName>",
        f"<FromUserName>{xmlcodec.cdata(openid)}</FromUserName>",
        f"<CreateTime>{created}</CreateTime>",
        f"<MsgType>{xmlcodec.cdata(kind)}</MsgType>",
    ]
    parts += [f"<{name}>{xmlcodec.cdata(value)}</{name}>" for name, value in fields.items()]
    if kind != "event":
        parts.append(f"<MsgId>{msg_id if msg_id is not None else new_msg_id()}</MsgId>")
    return "<xml>" + "".join(parts) + "</xml>"


_counter = int(time.time() * 1000)


def new_msg_id() -> int:
    global _counter
    _counter += 1
    return 6054768590064713728 + _counter


@dataclass
class Account:
    """Signs (and in safe or compatible mode encrypts) callbacks like WeChat's servers."""

    token: str = TOKEN
    aes_key: str = AES_KEY
    app_id: str = APP_ID

    @property
    def crypto(self) -> WeChatCrypto:
        return WeChatCrypto(self.token, self.aes_key, self.app_id)

    def request(
        self,
        xml: str,
        mode: str = "safe",
        *,
        timestamp: int | None = None,
        nonce: str | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """Query parameters and body for ``mode`` in {"plain", "compatible", "safe"}, signed
        now with a fresh nonce unless ``timestamp`` / ``nonce`` are given."""
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        nonce = nonce if nonce is not None else uuid.uuid4().hex[:10]
        params = {
            "timestamp": stamp,
            "nonce": nonce,
            "signature": sign(self.token, stamp, nonce),
        }
        if mode == "plain":
            return params, xml.encode()
        sealed = xmlcodec.parse(self.crypto.encrypt_message(xml, nonce, stamp))
        encrypt = sealed["Encrypt"]
        params |= {
            "encrypt_type": "aes",
            "msg_signature": sign(self.token, stamp, nonce, encrypt),
        }
        if mode == "safe":
            body = f"<xml><ToUserName>{xmlcodec.cdata(ORIGINAL_ID)}</ToUserName><Encrypt>{xmlcodec.cdata(encrypt)}</Encrypt></xml>"
        else:  # compatible: plaintext fields and the ciphertext side by side
            body = xml.replace("</xml>", f"<Encrypt>{xmlcodec.cdata(encrypt)}</Encrypt></xml>")
        return params, body.encode()

    async def post(self, http: httpx.AsyncClient, xml: str, mode: str = "safe") -> httpx.Response:
        params, body = self.request(xml, mode)
        return await http.post(
            "/webhooks/wechat", params=params, content=body, headers={"content-type": "text/xml"}
        )

    def open_reply(self, response: httpx.Response) -> dict[str, str]:
        """The reply's fields, decrypted (and its signature checked) when it was sealed."""
        fields = xmlcodec.parse(response.content)
        if "Encrypt" in fields:
            plain = self.crypto.decrypt_message(
                {"Encrypt": fields["Encrypt"]},
                fields["MsgSignature"],
                fields["TimeStamp"],
                fields["Nonce"],
            )
            return xmlcodec.parse(plain)
        return fields


def wechat_settings(double: WechatDouble | None = None, **overrides: Any) -> WechatSettings:
    values: dict[str, Any] = {
        "token": TOKEN,
        "app_id": APP_ID,
        "app_secret": SECRET,
        "aes_key": AES_KEY,
        "api_base_url": double.base_url if double else "http://127.0.0.1:9/",
    }
    return WechatSettings(**(values | overrides))


@asynccontextmanager
async def wechat_app(
    settings: Settings,
    wechat: WechatSettings,
    *,
    run_outbox: bool = False,
    clock: Callable[[], float] = time.time,
    photo_reader: Any = None,
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app with the WeChat extension, its lifespan running, and a client for it."""
    app = create_app(
        settings.model_copy(update={"wechat": wechat}),
        extensions=[WechatExtension(clock=clock)],
        migrate=False,
        run_outbox=run_outbox,
        photo_reader=photo_reader,
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://weiquan.test") as http:
            yield app, http


@pytest.fixture(name="double")
def double_server() -> Iterator[WechatDouble]:
    """A fresh WeChat API double per test (import this fixture into a test module)."""
    server = WechatDouble().start()
    try:
        yield server
    finally:
        server.stop()
