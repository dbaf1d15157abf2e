"""``/webhooks/wechat``: verify, parse, hand over. Bad input gets 400/403/413, never a 500."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from integrations.wechat import xmlcodec
from integrations.wechat.envelope import BadRequest, Forbidden, Replayed, check_plain_signature
from integrations.wechat.inbound import classify

if TYPE_CHECKING:
    from integrations.wechat.extension import WechatRuntime

log = logging.getLogger(__name__)
router = APIRouter(prefix="/webhooks/wechat", tags=["wechat channel"])


class TooLarge(Exception):
    pass


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


def _runtime(request: Request) -> WechatRuntime | None:
    runtime: WechatRuntime | None = getattr(request.app.state, "wechat", None)
    if runtime is None or not runtime.settings.configured:
        return None
    return runtime


async def _body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        raise TooLarge()
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise TooLarge()
    return bytes(data)


@router.get("", response_class=PlainTextResponse)
async def verify(request: Request) -> Response:
    """URL verification (服务器配置): echo ``echostr`` when the signature is ours."""
    runtime = _runtime(request)
    if runtime is None:
        return _error(404, "wechat_not_configured", "WeChat is not configured on this server.")
    settings = runtime.settings
    params = request.query_params
    try:
        check_plain_signature(
            settings.token,
            params.get("signature", ""),
            params.get("timestamp", ""),
            params.get("nonce", ""),
        )
    except Forbidden:
        return _error(403, "bad_signature", "The signature does not match.")
    echostr = params.get("echostr", "")
    if not echostr:
        return _error(400, "missing_echostr", "echostr is required.")
    return PlainTextResponse(echostr)


@router.post("")
async def receive(request: Request) -> Response:
    """A message or event: the passive reply, ``success``, or nothing so WeChat retries."""
    started = time.monotonic()
    runtime = _runtime(request)
    if runtime is None:
        return _error(404, "wechat_not_configured", "WeChat is not configured on this server.")
    settings, envelope, channel = runtime.settings, runtime.envelope, runtime.channel
    try:
        body = await _body(request, settings.max_body_bytes)
    except TooLarge:
        return _error(413, "too_large", f"The body exceeds {settings.max_body_bytes} bytes.")
    try:
        opened = envelope.open(dict(request.query_params), body)
        incoming = classify(opened.fields, runtime.senders)
    except Forbidden as exc:
        return _error(403, exc.code, str(exc))
    except BadRequest as exc:
        return _error(400, exc.code, str(exc))
    except Exception:  # anything a hostile body could still provoke is its fault, not ours
        log.exception("wechat: unreadable callback")
        return _error(400, "bad_message", "The message could not be read.")
    try:
        # A retry of this message passes; another message under a used nonce does not.
        await runtime.guard.admit(opened)
    except Replayed as exc:
        log.warning("wechat: replayed callback refused (nonce %r)", opened.nonce)
        return _error(403, exc.code, str(exc))
    except Exception:
        log.exception("wechat %s: the nonce could not be recorded", incoming.message_id)
        return Response(status_code=503)
    try:
        answer = await channel.answer(incoming, request.app.state.pipeline, started)
    except Exception:
        log.exception("wechat %s: answering failed", incoming.message_id)
        return Response(status_code=503)
    if answer.retry:
        return Response(status_code=503)
    if not answer.text:
        return PlainTextResponse("success")
    reply = xmlcodec.text_reply(
        to_user=incoming.openid, from_user=incoming.account, content=answer.text
    )
    return Response(envelope.seal(opened, reply), media_type="application/xml")
