"""Over real HTTP: a uvicorn server, WeChat's 5-second cut-off played by a client timeout."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn

from bot.app import create_app
from bot.web.limits import BodyLimit
from integrations.wechat import WechatExtension
from tests.integrations.test_wechat_delivery import SlowPipeline
from tests.integrations.wechat_double import Account, message_xml, new_msg_id, wechat_settings


@asynccontextmanager
async def served(settings: Any, wechat: Any) -> AsyncIterator[tuple[Any, str]]:
    app = create_app(
        settings.model_copy(update={"wechat": wechat}),
        extensions=[WechatExtension()],
        migrate=False,
        run_outbox=False,
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            BodyLimit(app, settings.chat.max_body_bytes),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
        )
    )
    task = asyncio.create_task(server.serve())
    for _ in range(1000):
        if server.started:
            break
        await asyncio.sleep(0.01)
    try:
        yield app, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.mark.e2e
async def test_a_dropped_delivery_is_answered_on_wechats_retry(sqlite_settings: Any) -> None:
    account = Account()
    xml = message_xml(
        "text", "o_e2e_retry_00000000000001", msg_id=new_msg_id(), Content="/complaint"
    )
    wechat = wechat_settings(
        customer_service=False, passive_budget_seconds=0.2, retry_hold_seconds=1.5
    )
    async with served(sqlite_settings, wechat) as (app, base):
        slow = SlowPipeline(app.state.pipeline, 0.8)
        app.state.pipeline = slow
        params, body = account.request(xml, "safe")
        # WeChat hangs up after its timeout (5 s; here 0.4 s) and delivers again.
        async with httpx.AsyncClient(base_url=base, timeout=0.4) as wechat_server:
            with pytest.raises(httpx.ReadTimeout):
                await wechat_server.post("/webhooks/wechat", params=params, content=body)
        await asyncio.sleep(0.6)
        async with httpx.AsyncClient(base_url=base, timeout=5.0) as wechat_server:
            retry = await wechat_server.post("/webhooks/wechat", params=params, content=body)
            assert retry.status_code == 200
            assert "商品" in account.open_reply(retry)["Content"]
            too_big = await wechat_server.post(
                "/webhooks/wechat", params=params, content=b"x" * (100 * 1024)
            )
            assert too_big.status_code == 413
        assert slow.calls == 1
