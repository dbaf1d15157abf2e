"""Generated WeChat callbacks and Telegram updates against the running app (real uvicorn).

Every answer is one a channel can act on: a bad signature or secret gets 403, a malformed
body 400 (413 when too large), a well-formed message 200. Never a 5xx, never a hang.
``WEIQUAN_FUZZ_EXAMPLES`` sets the examples per test: 150 by default (the bounded run every
test run includes); ``make fuzz`` sets it (500) and, with it set, these tests carry the
``fuzz`` marker that ``make fuzz`` selects and ``make test-fast`` leaves out.
"""

from __future__ import annotations

import copy
import json
import os
import socket
import string
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import make_url

from bot.app import create_app
from bot.db.migrate import upgrade
from bot.settings import NluSettings, Settings
from integrations.telegram import TelegramExtension, TelegramSettings
from integrations.wechat import WechatExtension, xmlcodec
from tests.conftest import ADMIN_URL, PostgresDatabases
from tests.integrations.telegram_double import SECRET as TELEGRAM_SECRET
from tests.integrations.telegram_double import BotApiDouble, FakeUser, running_double
from tests.integrations.wechat_double import (
    ORIGINAL_ID,
    TOKEN,
    Account,
    WechatDouble,
    wechat_settings,
)

EXAMPLES = int(os.environ.get("WEIQUAN_FUZZ_EXAMPLES", "150"))
pytestmark = [pytest.mark.fuzz] if "WEIQUAN_FUZZ_EXAMPLES" in os.environ else []
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Longer than any budget inside the app (WeChat's passive answer waits at most 5.5 s).
HANG_SECONDS = 15.0
MAX_BODY = 16 * 1024


@dataclass
class Observed:
    """What the fuzzing saw, for the failure message and the figures."""

    requests: int = 0
    slowest: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)

    def record(self, response: httpx.Response, seconds: float) -> None:
        self.requests += 1
        self.slowest = max(self.slowest, seconds)
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1


@dataclass
class Target:
    client: httpx.Client
    observed: Observed = field(default_factory=Observed)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        started = time.monotonic()
        response = self.client.post(path, **kwargs)
        self.observed.record(response, time.monotonic() - started)
        assert response.status_code < 500, (response.status_code, response.text[:300])
        return response


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve(app: FastAPI) -> Iterator[Target]:
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="none")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the app did not start")
        time.sleep(0.02)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=HANG_SECONDS) as client:
            yield Target(client)
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """One database (and data dir) per run of the module, on SQLite and on PostgreSQL."""
    directory = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{directory / 'weiquan.sqlite3'}"
        upgrade(url)
        yield url, directory / "var"
        return
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    name = databases.take()
    try:
        yield (
            make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False),
            (directory / "var"),
        )
    finally:
        databases.give_back(name)


def _settings(database: tuple[str, Path]) -> Settings:
    # Both apps of a run share the database, so they share the data dir (its personal-data key).
    url, data_dir = database
    return Settings(
        environment="test",
        data_dir=data_dir,
        database_url=url,
        nlu=NluSettings(manage=False),
    )


@pytest.fixture(scope="module")
def doubles() -> Iterator[tuple[WechatDouble, BotApiDouble]]:
    wechat = WechatDouble().start()
    try:
        with running_double() as bot_api:
            yield wechat, bot_api
    finally:
        wechat.stop()


@pytest.fixture(scope="module")
def safe_app(
    database: tuple[str, Path],
    doubles: tuple[WechatDouble, BotApiDouble],
) -> Iterator[Target]:
    """WeChat in safe mode (an AES key) and Telegram with its secret, as in production."""
    wechat, bot_api = doubles
    telegram = TelegramSettings(
        token=bot_api.token,
        secret=TELEGRAM_SECRET,
        base_url=bot_api.base_url,
        base_file_url=bot_api.base_file_url,
    )
    channels = {
        "wechat": wechat_settings(wechat, max_body_bytes=MAX_BODY, api_timeout_seconds=2),
        "telegram": telegram,
    }
    app = create_app(
        _settings(database).model_copy(update=channels),
        extensions=[WechatExtension(), TelegramExtension()],
        migrate=False,
        run_outbox=False,
    )
    yield from _serve(app)


@pytest.fixture(scope="module")
def plain_app(
    database: tuple[str, Path],
    doubles: tuple[WechatDouble, BotApiDouble],
) -> Iterator[Target]:
    """WeChat in plaintext mode (no AES key), as the test account runs."""
    wechat, _ = doubles
    settings_ = wechat_settings(wechat, aes_key="", max_body_bytes=MAX_BODY, api_timeout_seconds=2)
    app = create_app(
        _settings(database).model_copy(update={"wechat": settings_}),
        extensions=[WechatExtension()],
        migrate=False,
        run_outbox=False,
    )
    yield from _serve(app)


# ---- WeChat ------------------------------------------------------------------------------

# Characters XML 1.0 allows (no other controls, no surrogates), including the awkward ones.
xml_char = st.characters(blacklist_categories=["Cs", "Cc"], blacklist_characters="\ufffe\uffff")
xml_text = st.lists(
    xml_char.map(str)
    | st.sampled_from(["\t", "\n", "]]>", "<", "&", "&amp;", "<![CDATA[", "中", "😀", " " * 40]),
    max_size=60,
).map("".join)
big_text = st.integers(min_value=1, max_value=3000).map(lambda n: "长" * n)
odd_text = xml_text | big_text
openids = st.text(alphabet=string.ascii_letters + string.digits + "_-", min_size=1, max_size=40)
msg_ids = st.integers(min_value=1, max_value=10**19).map(str)
EVENTS = ["subscribe", "unsubscribe", "SCAN", "CLICK", "VIEW", "LOCATION", "TEMPLATESENDJOBFINISH"]


@st.composite
def wechat_message(draw: st.DrawFn) -> dict[str, str]:
    """A message WeChat could send: every MsgType, with odd but legal field values."""
    kind = draw(
        st.sampled_from(
            ["text", "image", "voice", "video", "shortvideo", "location", "link", "event", "file"]
        )
        | st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=12)
    )
    fields = {
        "ToUserName": ORIGINAL_ID,
        "FromUserName": draw(openids),
        "CreateTime": str(draw(st.integers(min_value=0, max_value=10**11))),
        "MsgType": kind,
    }
    extra: dict[str, Any] = {
        "text": {"Content": odd_text, "bizmsgmenuid": st.just("") | msg_ids},
        "image": {"MediaId": openids, "PicUrl": odd_text},
        "voice": {"MediaId": openids, "Format": xml_text, "Recognition": odd_text},
        "video": {"MediaId": openids, "ThumbMediaId": xml_text},
        "shortvideo": {"MediaId": openids, "ThumbMediaId": xml_text},
        "location": {
            "Location_X": xml_text,
            "Location_Y": xml_text,
            "Scale": xml_text,
            "Label": odd_text,
        },
        "link": {"Title": odd_text, "Description": odd_text, "Url": odd_text},
        "event": {
            "Event": st.sampled_from(EVENTS) | st.text(string.ascii_letters, min_size=1),
            "EventKey": odd_text,
        },
    }.get(kind, {"Content": odd_text})
    for name, strategy in extra.items():
        value = draw(strategy)
        if value.strip():  # required fields must be non-blank for a well-formed message
            fields[name] = value
        elif name in {"Content", "Label", "EventKey", "PicUrl", "Recognition"}:
            fields[name] = value
    if kind == "image":
        fields.setdefault("MediaId", "media-" + uuid.uuid4().hex)
    if kind == "event":
        fields.setdefault("Event", "CLICK")
    else:
        fields["MsgId"] = draw(msg_ids)
    return fields


def to_xml(fields: dict[str, str]) -> str:
    return (
        "<xml>"
        + "".join(f"<{name}>{xmlcodec.cdata(value)}</{name}>" for name, value in fields.items())
        + "</xml>"
    )


def malformations(xml: str) -> st.SearchStrategy[bytes]:
    """Ways to break a message so that it cannot be read (each must get 400)."""
    body = xml.encode()
    return st.one_of(
        # Cut anywhere before the end of </xml>.
        st.integers(min_value=0, max_value=len(body) - 1).map(lambda n: body[:n]),
        st.just(body.replace(b"<MsgType>", b"<!-- <MsgType>", 1)),
        st.sampled_from(
            [
                b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY e "x">]>' + body,
                b'<!DOCTYPE xml SYSTEM "http://127.0.0.1:9/x.dtd">' + body,
                b"<!ENTITY x SYSTEM 'file:///etc/passwd'>" + body,
                body.replace(b"<xml>", b"<xml><xml>", 1),
                body.replace(b"</xml>", b"<Deep><a><b><c><d>x</d></c></b></a></Deep></xml>"),
                body.replace(b"<CreateTime>", b"<CreateTime>x", 1),
                body.replace(b"<FromUserName>", b"<FromUserName>" + b"o" * 80, 1),
                b"<notxml/>",
                b"",
                b"\x00\x01\x02",
                b"\xff\xfe<\x00x\x00",
                b"<xml>" * 2000,
            ]
        ),
        st.binary(max_size=200),
    )


def sign_plain(timestamp: str, nonce: str) -> dict[str, str]:
    from integrations.wechat.envelope import sign

    return {"timestamp": timestamp, "nonce": nonce, "signature": sign(TOKEN, timestamp, nonce)}


def wechat_post(target: Target, params: dict[str, str], body: bytes) -> httpx.Response:
    return target.post(
        "/webhooks/wechat", params=params, content=body, headers={"content-type": "text/xml"}
    )


@FUZZ
@given(fields=wechat_message(), mode=st.sampled_from(["safe", "compatible"]))
def test_wechat_well_formed_encrypted_messages_get_200(
    safe_app: Target, fields: dict[str, str], mode: str
) -> None:
    params, body = Account().request(to_xml(fields), mode)
    response = wechat_post(safe_app, params, body)
    if len(body) > MAX_BODY:
        assert response.status_code == 413
        return
    assert response.status_code == 200, response.text[:300]
    if response.text != "success":
        reply = Account().open_reply(response)
        assert reply["ToUserName"] == fields["FromUserName"]


@FUZZ
@given(fields=wechat_message())
def test_wechat_well_formed_plaintext_messages_get_200(
    plain_app: Target, fields: dict[str, str]
) -> None:
    params, body = Account().request(to_xml(fields), "plain")
    response = wechat_post(plain_app, params, body)
    assert response.status_code == (413 if len(body) > MAX_BODY else 200), response.text[:300]


@FUZZ
@given(data=st.data(), fields=wechat_message(), mode=st.sampled_from(["safe", "plain"]))
def test_wechat_malformed_messages_get_400(
    safe_app: Target, plain_app: Target, data: st.DataObject, fields: dict[str, str], mode: str
) -> None:
    broken = data.draw(malformations(to_xml(fields)))
    if mode == "plain":
        params, body = sign_plain(str(int(time.time())), uuid.uuid4().hex), broken
        target = plain_app
    else:
        # Correctly signed and encrypted: the malformed XML is what is inside.
        params, body = Account().request(broken.decode("utf-8", "replace"), "safe")
        target = safe_app
    response = wechat_post(target, params, body)
    expected = 413 if len(body) > MAX_BODY else 400
    assert response.status_code == expected, response.text[:300]
    if expected == 400:
        assert response.json()["error"]


@FUZZ
@given(
    fields=wechat_message(),
    mode=st.sampled_from(["safe", "compatible", "plain"]),
    forgery=st.sampled_from(["wrong", "missing", "other-token", "random"]),
    junk=st.text(max_size=60),
)
def test_wechat_bad_signatures_get_403(
    safe_app: Target, plain_app: Target, fields: dict[str, str], mode: str, forgery: str, junk: str
) -> None:
    account = Account(token="not-" + TOKEN) if forgery == "other-token" else Account()
    params, body = account.request(to_xml(fields), mode)
    key = "signature" if mode == "plain" else "msg_signature"
    if forgery == "wrong":
        params[key] = "0" * 40
    elif forgery == "missing":
        params.pop(key)
    elif forgery == "random":
        params[key] = junk
    target = plain_app if mode == "plain" else safe_app
    response = wechat_post(target, params, body)
    assert response.status_code == (413 if len(body) > MAX_BODY else 403), response.text[:300]


@FUZZ
@given(fields=wechat_message())
def test_wechat_plaintext_to_a_safe_mode_account_gets_403(
    safe_app: Target, fields: dict[str, str]
) -> None:
    params, body = Account().request(to_xml(fields), "plain")
    response = wechat_post(safe_app, params, body)
    assert response.status_code == (413 if len(body) > MAX_BODY else 403)


@FUZZ
@given(
    params=st.dictionaries(
        st.sampled_from(
            ["timestamp", "nonce", "signature", "msg_signature", "encrypt_type", "openid", "x"]
        ),
        st.text(max_size=80),
        max_size=6,
    ),
    body=st.binary(max_size=600) | st.text(max_size=600).map(str.encode),
)
def test_wechat_arbitrary_requests_never_fail_the_server(
    safe_app: Target, plain_app: Target, params: dict[str, str], body: bytes
) -> None:
    for target in (safe_app, plain_app):
        response = wechat_post(target, params, body)
        assert response.status_code in {400, 403, 413}, response.text[:300]


# ---- Telegram ----------------------------------------------------------------------------

json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=80)
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
telegram_text = (
    st.text(max_size=400)
    | st.sampled_from(["/start", "/complaint", "/status", "/human", "/cancel", "english", "中文"])
    | st.integers(min_value=1, max_value=4000).map(lambda n: "字" * n)
)


@st.composite
def telegram_update(draw: st.DrawFn) -> dict[str, Any]:
    """An update Telegram could send: every kind the bot handles and some it ignores."""
    double = BotApiDouble()
    double._ids = iter(range(draw(st.integers(min_value=1, max_value=2**40)), 2**62))
    user = FakeUser(
        double,
        user_id=draw(st.integers(min_value=1, max_value=2**52)),
        language_code=draw(st.sampled_from([None, "en", "zh-hans", "ru", "x" * 20])),
        first_name=draw(st.text(min_size=1, max_size=60)),
    )
    kind = draw(
        st.sampled_from(
            ["text", "callback", "contact", "location", "voice", "sticker", "edited", "group"]
        )
    )
    match kind:
        case "text":
            return user.text(draw(telegram_text))
        case "callback":
            return user.callback(draw(st.text(min_size=1, max_size=64)))
        case "contact":
            return user.contact(draw(st.text(max_size=30)), own=draw(st.booleans()))
        case "location":
            return user.location(
                draw(st.floats(min_value=-90, max_value=90)),
                draw(st.floats(min_value=-180, max_value=180)),
            )
        case "voice":
            return user.voice()
        case "sticker":
            return user.sticker()
        case "edited":
            return user.edited(draw(telegram_text))
        case _:
            return user.in_group(draw(telegram_text))


@st.composite
def mutated_update(draw: st.DrawFn) -> dict[str, Any]:
    """A real update with fields removed, replaced by any JSON, or added."""
    update = copy.deepcopy(draw(telegram_update()))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        node: Any = update
        path: list[str] = []
        while isinstance(node, dict) and node and draw(st.booleans()):
            key = draw(st.sampled_from(sorted(node)))
            if not isinstance(node[key], dict):
                break
            path.append(key)
            node = node[key]
        if not isinstance(node, dict):
            continue
        action = draw(st.sampled_from(["delete", "replace", "add"]))
        if action == "add" or not node:
            node[draw(st.text(max_size=12))] = draw(json_value)
        else:
            key = draw(st.sampled_from(sorted(node)))
            if action == "delete":
                del node[key]
            else:
                node[key] = draw(json_value)
    return update


def telegram_post(target: Target, body: bytes, secret: str | None) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    return target.post("/webhooks/telegram", content=body, headers=headers)


@FUZZ
@given(update=telegram_update())
def test_telegram_well_formed_updates_get_200(safe_app: Target, update: dict[str, Any]) -> None:
    response = telegram_post(safe_app, json.dumps(update).encode(), TELEGRAM_SECRET)
    assert response.status_code == 200, response.text[:300]


@FUZZ
@given(update=mutated_update())
def test_telegram_odd_updates_get_200_or_400(safe_app: Target, update: dict[str, Any]) -> None:
    response = telegram_post(safe_app, json.dumps(update).encode(), TELEGRAM_SECRET)
    assert response.status_code in {200, 400}, response.text[:300]


@FUZZ
@given(
    body=st.binary(max_size=400)
    | json_value.map(lambda v: json.dumps(v).encode())
    | mutated_update()
    .map(lambda u: {k: v for k, v in u.items() if k != "update_id"})
    .map(lambda u: json.dumps(u).encode()),
)
def test_telegram_malformed_bodies_get_400(safe_app: Target, body: bytes) -> None:
    response = telegram_post(safe_app, body, TELEGRAM_SECRET)
    assert response.status_code == 400, response.text[:300]


@FUZZ
@given(
    update=telegram_update() | mutated_update(),
    secret=st.none()
    | st.text(alphabet=string.ascii_letters + string.digits + "_-", max_size=80).filter(
        lambda s: s != TELEGRAM_SECRET
    ),
)
def test_telegram_without_the_secret_gets_403(
    safe_app: Target, update: dict[str, Any], secret: str | None
) -> None:
    response = telegram_post(safe_app, json.dumps(update).encode(), secret)
    assert response.status_code == 403, response.text[:300]


def test_figures(safe_app: Target, plain_app: Target) -> None:
    """Runs last in this module: nothing slow, and the counts for the record."""
    for name, target in (("safe", safe_app), ("plain", plain_app)):
        observed = target.observed
        print(  # noqa: T201 - the figures for the closing note (-s shows them)
            f"channel fuzz {name}: {observed.requests} requests, statuses {observed.statuses}, "
            f"slowest {observed.slowest:.2f} s"
        )
        assert all(status < 500 for status in observed.statuses)
        assert observed.slowest < HANG_SECONDS
