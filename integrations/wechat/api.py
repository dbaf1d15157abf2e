"""The WeChat API through wechatpy's client, pointed at a configurable base URL.

wechatpy's client is synchronous (requests), so each call runs in a worker thread; the
access token comes from the shared database cache and is passed with every call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextvars import ContextVar
from functools import partial
from typing import Any, TypeVar

import requests
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from integrations.wechat.settings import WechatSettings
from integrations.wechat.tokens import TokenCache

log = logging.getLogger(__name__)
T = TypeVar("T")
TOKEN_ERRORS = {40001, 40014, 42001}


class ApiError(Exception):
    """A WeChat API call failed; ``errcode`` is WeChat's code, None for transport errors."""

    def __init__(self, errcode: int | None, message: str) -> None:
        super().__init__(f"{errcode}: {message}")
        self.errcode = errcode


# The access token of the call in progress: ``asyncio.to_thread`` copies it into the thread,
# where wechatpy's own API methods (which take no token) read it from the client.
_token: ContextVar[str | None] = ContextVar("wechat_access_token", default=None)


class BaseUrlClient(WeChatClient):
    """wechatpy's client with every endpoint, the token one included, under ``base_url``
    (an egress proxy in production, the local double in tests) and a timeout everywhere."""

    def __init__(self, app_id: str, secret: str, base_url: str, timeout: float) -> None:
        super().__init__(app_id, secret, timeout=timeout, auto_retry=False)
        self.API_BASE_URL = base_url + "cgi-bin/"

    @property
    def access_token(self) -> str:
        """The shared token (``TokenCache``) of the call in progress, never one of its own."""
        # Outside ``with_token`` (wechatpy looks at every attribute when built) none is set:
        # an empty token, which WeChat refuses, rather than one fetched behind the cache.
        return _token.get() or ""

    def fetch_access_token(self) -> dict[str, Any]:
        params = {"grant_type": "client_credential", "appid": self.appid, "secret": self.secret}
        # ``access_token: None`` stops the client from asking for a token to fetch a token.
        result: dict[str, Any] = self.get("token", params={**params, "access_token": None})
        return result


class WechatApi:
    """The few calls the channel needs, async, with one retry after a rejected token."""

    def __init__(
        self, settings: WechatSettings, sessions: async_sessionmaker[AsyncSession]
    ) -> None:
        self.client = BaseUrlClient(
            settings.app_id,
            settings.app_secret,
            settings.api_base_url,
            settings.api_timeout_seconds,
        )
        self.tokens = TokenCache(
            sessions,
            settings.app_id,
            self.fetch_token,
            margin_seconds=settings.token_margin_seconds,
        )

    def close(self) -> None:
        self.client._http.close()

    async def fetch_token(self) -> tuple[str, int]:
        result = await self._thread(self.client.fetch_access_token)
        token = result.get("access_token") if isinstance(result, dict) else None
        if not token:
            raise ApiError(None, "no access_token in WeChat's answer")
        return str(token), int(result.get("expires_in") or 7200)

    async def _thread(self, call: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(call)
        except WeChatClientException as exc:
            raise ApiError(exc.errcode, str(exc.errmsg)) from None
        except requests.RequestException as exc:
            raise ApiError(None, f"{type(exc).__name__}: {exc}") from None

    async def call(self, method: str, endpoint: str, **kwargs: Any) -> Any:
        extra = dict(kwargs.pop("params", {}))
        for attempt in (1, 2):
            token = await self.tokens.get()
            request = partial(
                self.client._request,
                method,
                endpoint,
                params={**extra, "access_token": token},
                **kwargs,
            )
            try:
                return await self._thread(request)
            except ApiError as exc:
                if exc.errcode in TOKEN_ERRORS and attempt == 1:
                    log.info("WeChat rejected the access token (%s); refreshing", exc.errcode)
                    await self.tokens.invalidate(token)
                    continue
                raise
        raise AssertionError("unreachable")

    async def with_token(self, call: Callable[[WeChatClient], T]) -> T:
        """Run one of wechatpy's API methods (``lambda c: c.message.…``) with the shared
        token, refreshed once if WeChat rejects it."""
        for attempt in (1, 2):
            token = await self.tokens.get()
            reset = _token.set(token)
            try:
                return await self._thread(partial(call, self.client))
            except ApiError as exc:
                if exc.errcode in TOKEN_ERRORS and attempt == 1:
                    await self.tokens.invalidate(token)
                    continue
                raise
            finally:
                _token.reset(reset)
        raise AssertionError("unreachable")

    async def send_subscription(
        self, openid: str, template_id: str, data: dict[str, Any], page: str | None = None
    ) -> None:
        """Subscription message (订阅通知) of a service account, to a user who subscribed to
        the template: allowed outside the customer-service window."""
        await self.with_token(
            lambda c: c.message.send_subscribe_message(openid, template_id, data, page=page)
        )

    async def send_text(self, openid: str, text: str) -> None:
        """Customer-service message (客服消息), allowed within 48 h of the user's last message."""
        body = {"touser": openid, "msgtype": "text", "text": {"content": text}}
        await self.call("post", "message/custom/send", data=body)

    async def download_media(self, media_id: str) -> bytes:
        """A temporary media file (kept by WeChat for 3 days)."""
        result = await self.call("get", "media/get", params={"media_id": media_id})
        if isinstance(result, requests.Response):
            return bytes(result.content)
        raise ApiError(None, "media/get answered JSON instead of a file")

    async def create_menu(self, menu: dict[str, Any]) -> None:
        await self.call("post", "menu/create", data=menu)
