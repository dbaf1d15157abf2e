"""The WeChat channel as an app extension: routes at build time, clients in the lifespan."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from fastapi import FastAPI

from bot.senders import SenderIds
from bot.tls import client_tls
from integrations.wechat.api import WechatApi
from integrations.wechat.channel import TOPIC, WechatChannel
from integrations.wechat.envelope import Envelope
from integrations.wechat.outbound import CustomerServiceSender
from integrations.wechat.replay import ReplayGuard
from integrations.wechat.route import router
from integrations.wechat.settings import WechatSettings


@dataclass
class WechatRuntime:
    """What the route reaches through ``app.state.wechat``."""

    settings: WechatSettings
    envelope: Envelope
    channel: WechatChannel
    api: WechatApi | None
    guard: ReplayGuard
    senders: SenderIds


class WechatExtension:
    name = "wechat"

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock  # Unix time, for the callbacks' replay window

    def install(self, app: FastAPI) -> None:
        app.include_router(router)

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        settings: WechatSettings = app.state.settings.wechat
        sessions = app.state.sessions
        api = WechatApi(settings, sessions) if settings.can_call_api else None
        core = app.state.settings
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(settings.api_timeout_seconds), verify=client_tls()
        ) as http:
            channel = WechatChannel(
                settings,
                app.state.pipeline.channels,
                app.state.evidence,
                api,
                http=http,
                wake_outbox=app.state.outbox.wake,
                max_photo_bytes=core.chat.max_upload_bytes,
            )
            if api is not None:
                app.state.outbox.register(
                    TOPIC,
                    CustomerServiceSender(
                        api,
                        app.state.pipeline.channels,
                        max_bytes=settings.max_reply_bytes,
                        template_id=settings.alert_template_id,
                        template_fields=settings.alert_fields,
                    ),
                )
            guard = ReplayGuard(
                sessions, window_seconds=settings.replay_window_seconds, clock=self._clock
            )
            envelope = Envelope(settings, clock=self._clock)
            app.state.wechat = WechatRuntime(
                settings, envelope, channel, api, guard, app.state.senders
            )
            try:
                yield
            finally:
                await channel.drain()
                if api is not None:
                    api.close()
