"""Attacks on the WeChat webhook: plaintext to a safe-mode account, stale and replayed callbacks
(also across workers sharing one database), and PicUrls that point anywhere but WeChat."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bot.db.models import Evidence
from bot.db.models import InboundMessage as InboundRow
from integrations.wechat.models import WechatNonce
from tests.factories import png_bytes
from tests.integrations.test_wechat_delivery import SlowPipeline
from tests.integrations.wechat_double import (
    Account,
    WechatDouble,
    double_server,  # noqa: F401  (the `double` fixture)
    message_xml,
    new_msg_id,
    wechat_app,
    wechat_settings,
)

NOW = 1_796_090_400  # the server's clock in these tests (Unix time)


async def count(app: Any, model: Any) -> int:
    async with app.state.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def post(http: httpx.AsyncClient, params: dict[str, str], body: bytes) -> httpx.Response:
    return await http.post(
        "/webhooks/wechat", params=params, content=body, headers={"content-type": "text/xml"}
    )


# ---- raw mode -----------------------------------------------------------------------------


async def test_a_safe_mode_account_refuses_plaintext_callbacks(sqlite_settings: Any) -> None:
    account = Account()
    async with wechat_app(sqlite_settings, wechat_settings()) as (app, http):
        # Correctly signed (the plain signature covers only token, timestamp and nonce), but the
        # body is not encrypted, so anyone who saw one signature could put any message in it.
        xml = message_xml("text", "o_raw_forger", Content="/complaint")
        params, body = account.request(xml, "plain")
        response = await post(http, params, body)
        assert response.status_code == 403
        assert response.json()["error"] == "encryption_required"
        assert "encrypt_type=aes" in response.json()["message"]
        # An explicit encrypt_type=raw is the same thing.
        response = await post(http, params | {"encrypt_type": "raw"}, body)
        assert response.status_code == 403
        assert await count(app, InboundRow) == 0
        # The same message encrypted is answered.
        params, body = account.request(xml, "safe")
        assert (await post(http, params, body)).status_code == 200
        assert await count(app, InboundRow) == 1


# ---- replay window ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("skew", "status"),
    [(-301, 403), (-299, 200), (0, 200), (299, 200), (301, 403), (-(10**9), 403)],
)
async def test_only_freshly_signed_callbacks_are_accepted(
    sqlite_settings: Any, skew: int, status: int
) -> None:
    account = Account()
    xml = message_xml("text", "o_clock_skew", Content="你好")
    async with wechat_app(sqlite_settings, wechat_settings(), clock=lambda: NOW) as (app, http):
        params, body = account.request(xml, "safe", timestamp=max(0, NOW + skew))
        response = await post(http, params, body)
        assert response.status_code == status, response.text
        if status == 403:
            assert response.json()["error"] == "stale_timestamp"
        assert await count(app, InboundRow) == (1 if status == 200 else 0)


async def test_a_replayed_nonce_cannot_carry_another_message(sqlite_settings: Any) -> None:
    """Plaintext mode (an account without a key): a captured signature with a new body."""
    account = Account()
    wechat = wechat_settings(aes_key="")
    async with wechat_app(sqlite_settings, wechat) as (app, http):
        genuine = message_xml("text", "o_victim_000000001", msg_id=new_msg_id(), Content="你好")
        params, body = account.request(genuine, "plain")
        assert (await post(http, params, body)).status_code == 200
        forged = message_xml("text", "o_victim_000000001", msg_id=new_msg_id(), Content="/human")
        response = await post(http, params, forged.encode())
        assert response.status_code == 403
        assert response.json()["error"] == "replayed"
        other_user = message_xml("text", "o_attacker_0000001", msg_id=new_msg_id(), Content="hi")
        assert (await post(http, params, other_user.encode())).status_code == 403
        assert await count(app, InboundRow) == 1


async def test_wechats_retry_with_the_same_nonce_gets_the_answer_already_made(
    settings: Any,
) -> None:
    account = Account()
    xml = message_xml("text", "o_retried_00000001", msg_id=new_msg_id(), Content="/complaint")
    async with wechat_app(settings, wechat_settings()) as (app, http):
        params, body = account.request(xml, "safe")
        first = await post(http, params, body)
        assert first.status_code == 200
        answer = account.open_reply(first)["Content"]
        assert "商品" in answer
        # WeChat delivers a message up to four times, each time with the same query and body.
        for _ in range(3):
            again = await post(http, params, body)
            assert again.status_code == 200
            assert account.open_reply(again)["Content"] == answer
        assert await count(app, InboundRow) == 1
        # A fifth is no retry of WeChat's: refused.
        fifth = await post(http, params, body)
        assert fifth.status_code == 403 and fifth.json()["error"] == "replayed"


async def test_a_slow_answer_reaches_the_user_on_wechats_retry(settings: Any) -> None:
    """The first delivery is left unanswered (we were slow); the retry, same nonce, gets it."""
    account = Account()
    xml = message_xml("text", "o_slow_retry_00001", msg_id=new_msg_id(), Content="/complaint")
    wechat = wechat_settings(passive_budget_seconds=0.1, retry_hold_seconds=0.2)
    async with wechat_app(settings, wechat) as (app, http):
        slow = SlowPipeline(app.state.pipeline, 0.5)
        app.state.pipeline = slow
        params, body = account.request(xml, "safe")
        first = await post(http, params, body)
        assert first.status_code == 503  # no answer within WeChat's time: it will retry
        # WeChat retries seconds later, when the first delivery's work has finished here.
        await asyncio.gather(*(job.task for job in app.state.wechat.channel.jobs.values()))
        retry = await post(http, params, body)
        assert retry.status_code == 200, retry.text
        assert "商品" in account.open_reply(retry)["Content"]
        assert slow.calls == 1 and await count(app, InboundRow) == 1


async def test_replays_are_refused_by_every_worker_sharing_the_database(settings: Any) -> None:
    """Two app instances on one database (SQLite file or PostgreSQL), as two workers."""
    account = Account()
    genuine = message_xml("text", "o_two_workers_0001", msg_id=new_msg_id(), Content="/complaint")
    forged = message_xml("text", "o_two_workers_0001", msg_id=new_msg_id(), Content="/human")
    plain = wechat_settings(aes_key="")
    async with (
        wechat_app(settings, plain) as (app_a, http_a),
        wechat_app(settings, plain) as (_app_b, http_b),
    ):
        params, body = account.request(genuine, "plain")
        first = await post(http_a, params, body)
        assert first.status_code == 200
        # The other worker refuses the nonce with another message ...
        response = await post(http_b, params, forged.encode())
        assert response.status_code == 403 and response.json()["error"] == "replayed"
        # ... and answers WeChat's retry of the same one with the reply already produced.
        retry = await post(http_b, params, body)
        assert retry.status_code == 200
        assert account.open_reply(retry)["Content"] == account.open_reply(first)["Content"]
        for http in (http_a, http_b):
            await post(http, params, body)
        fifth = await post(http_b, params, body)
        assert fifth.status_code == 403
        assert await count(app_a, InboundRow) == 1


async def test_concurrent_replays_on_two_workers_let_one_message_through(settings: Any) -> None:
    account = Account()
    plain = wechat_settings(aes_key="")
    async with (
        wechat_app(settings, plain) as (app_a, http_a),
        wechat_app(settings, plain) as (_app_b, http_b),
    ):
        params, _ = account.request(message_xml("text", "o_race_0000000001", Content="x"), "plain")
        bodies = [
            message_xml("text", f"o_race_{i:010d}", msg_id=new_msg_id(), Content="你好").encode()
            for i in range(6)
        ]
        responses = await asyncio.gather(
            *(post(http_a if i % 2 else http_b, params, b) for i, b in enumerate(bodies))
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200, 403, 403, 403, 403, 403]
        assert await count(app_a, InboundRow) == 1


async def test_old_nonces_are_forgotten(sqlite_settings: Any) -> None:
    account = Account()
    clock = [float(NOW)]
    async with wechat_app(sqlite_settings, wechat_settings(), clock=lambda: clock[0]) as (
        app,
        http,
    ):
        for _ in range(3):
            xml = message_xml("text", "o_purge_000000001", Content="你好")
            params, body = account.request(xml, "safe", timestamp=int(clock[0]))
            assert (await post(http, params, body)).status_code == 200
        assert await count(app, WechatNonce) == 3
        clock[0] += 601  # two windows later, none of them could be fresh again
        xml = message_xml("text", "o_purge_000000001", Content="你好")
        params, body = account.request(xml, "safe", timestamp=int(clock[0]))
        assert (await post(http, params, body)).status_code == 200
        assert await count(app, WechatNonce) == 1


# ---- PicUrl ------------------------------------------------------------------------------


async def photo(account: Account, http: httpx.AsyncClient, openid: str, **fields: str) -> str:
    response = await account.post(http, message_xml("image", openid, **fields), "safe")
    assert response.status_code == 200, response.text
    return response.text


@pytest.mark.databases("sqlite")
async def test_picurls_off_wechats_hosts_are_never_requested(
    settings: Any, double: WechatDouble
) -> None:
    double.pictures["p1.jpg"] = png_bytes(3)
    port = double.port
    hostile = [
        f"http://127.0.0.1:{port}/pics/p1.jpg",  # the double itself: an internal service
        f"http://localhost:{port}/pics/p1.jpg",
        f"http://mmbiz.qpic.cn@127.0.0.1:{port}/pics/p1.jpg",  # userinfo trick
        f"http://127.0.0.1:{port}\\@mmbiz.qpic.cn/pics/p1.jpg",
        f"http://127.0.0.1:{port}#@mmbiz.qpic.cn/pics/p1.jpg",
        f"http://mmbiz.qpic.cn.evil.example:{port}/pics/p1.jpg",
        "http://169.254.169.254/latest/meta-data/",
        "file:///etc/passwd",
        f"gopher://127.0.0.1:{port}/_x",
        "http://[::1]/x",
        "not a url",
    ]
    account = Account()
    async with wechat_app(settings, wechat_settings(double)) as (app, http):
        for index, url in enumerate(hostile):
            # MediaId unknown to WeChat: only PicUrl could provide the photo.
            await photo(account, http, f"o_ssrf_{index:012d}", MediaId="gone", PicUrl=url)
        assert await count(app, InboundRow) == len(hostile)
        assert await count(app, Evidence) == 0
    assert [c.path for c in double.calls if c.path.startswith("/pics")] == []


async def test_a_redirect_off_the_allowed_hosts_is_not_followed(
    sqlite_settings: Any, double: WechatDouble
) -> None:
    double.pictures["p1.jpg"] = png_bytes(3)
    elsewhere = f"http://127.0.0.1:{double.port}/pics/p1.jpg"
    # Allowed: "localhost" (standing in for WeChat's CDN); it redirects to another host.
    wechat = wechat_settings(double, pic_hosts="localhost")
    account = Account()
    async with wechat_app(sqlite_settings, wechat) as (app, http):
        url = f"http://localhost:{double.port}/redirect?to={elsewhere}"
        await photo(account, http, "o_redirected_00001", MediaId="gone", PicUrl=url)
        assert await count(app, Evidence) == 0
    assert [c.path for c in double.calls if not c.path.startswith("/cgi-bin")] == ["/redirect"]


@pytest.mark.databases("sqlite")
async def test_photos_still_arrive_through_the_media_api_and_wechats_hosts(
    settings: Any, double: WechatDouble
) -> None:
    double.media["MEDIA_OK"] = png_bytes(4)
    double.pictures["p5.jpg"] = png_bytes(5)
    account = Account()
    # The double stands in for WeChat's image host here.
    async with wechat_app(settings, wechat_settings(double, pic_hosts="127.0.0.1")) as (app, http):
        hostile = "http://169.254.169.254/latest/meta-data/"
        await photo(account, http, "o_media_api_000001", MediaId="MEDIA_OK", PicUrl=hostile)
        cdn = f"http://127.0.0.1:{double.port}/pics/p5.jpg"
        await photo(account, http, "o_media_cdn_000001", MediaId="gone", PicUrl=cdn)
        async with app.state.sessions() as session:
            stored = list((await session.execute(select(Evidence).order_by(Evidence.id))).scalars())
    assert len(stored) == 2
    [media_call, _] = double.calls_to("/cgi-bin/media/get")
    assert media_call.params["media_id"] == "MEDIA_OK"
    assert [c.path for c in double.calls if c.path.startswith("/pics")] == ["/pics/p5.jpg"]


def test_pic_hosts_setting_is_a_comma_separated_allow_list() -> None:
    settings = wechat_settings(pic_hosts=" MMBIZ.qpic.cn., cdn.example ,")
    assert settings.pic_host_set == {"mmbiz.qpic.cn", "cdn.example"}
    assert wechat_settings().pic_host_set == {"mmbiz.qpic.cn", "mmbiz.qlogo.cn"}


def test_migration_0012_adds_and_removes_the_nonce_table(tmp_path: Any) -> None:
    import sqlite3

    from alembic import command

    from bot.db.migrate import alembic_config, upgrade

    path = tmp_path / "m.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)
    with sqlite3.connect(path) as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(wechat_nonces)")}
        keys = [row[1] for row in db.execute("PRAGMA table_info(wechat_nonces)") if row[5]]
    assert columns == {"timestamp", "nonce", "digest", "deliveries", "seen_at"}
    assert keys == ["timestamp", "nonce"]  # the pair is the unique key every worker relies on
    command.downgrade(alembic_config(url), "0011")
    with sqlite3.connect(path) as db:
        assert not list(db.execute("SELECT name FROM sqlite_master WHERE name = 'wechat_nonces'"))
    command.upgrade(alembic_config(url), "head")
