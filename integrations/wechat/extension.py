"""The WeChat channel as an app extension: routes at build time, clients in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from fastapi import FastAPI

from integrations.wechat.api import WechatApi
from integrations.wechat.channel import TOPIC, WechatChannel
from integrations.wechat.envelope import Envelope
from integrations.wechat.outbound import CustomerServiceSender
from integrations.wechat.route import router
from integrations.wechat.settings import WechatSettings


@dataclass
class WechatRuntime:
    """What the route reaches through ``app.state.wechat``."""

    settings: WechatSettings
    envelope: Envelope
    channel: WechatChannel
    api: WechatApi | None


class WechatExtension:
    name = "wechat"

    def __init__(self, settings: WechatSettings | None = None) -> None:
        self._settings = settings

    def install(self, app: FastAPI) -> None:
        app.include_router(router)

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        settings = self._settings or WechatSettings()
        sessions = app.state.sessions
        api = WechatApi(settings, sessions) if settings.can_call_api else None
        core = app.state.settings
        async with httpx.AsyncClient(timeout=httpx.Timeout(settings.api_timeout_seconds)) as http:
            channel = WechatChannel(
                settings,
                sessions,
                app.state.evidence,
                api,
                http=http,
                wake_outbox=app.state.outbox.wake,
                max_photo_bytes=core.max_upload_bytes,
            )
            if api is not None:
                app.state.outbox.register(
                    TOPIC, CustomerServiceSender(api, sessions, max_bytes=settings.max_reply_bytes)
                )
            app.state.wechat = WechatRuntime(settings, Envelope(settings), channel, api)
            try:
                yield
            finally:
                await channel.drain()
                if api is not None:
                    api.close()
