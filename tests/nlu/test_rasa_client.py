"""NluClient against a scripted Rasa (httpx.MockTransport): fallback, cache, recovery."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest

from nlu.client import NluClient, StaticEndpoint
from nlu.normalise import merge_entities, normalise_value
from nlu.types import INTENTS, Entity

NOW = datetime(2026, 11, 27, 10, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
URL = "http://rasa.test"


def rasa_answer(text: str, intent: str = "complain", confidence: float = 0.97, entities=()) -> dict:
    return {
        "text": text,
        "intent": {"name": intent, "confidence": confidence},
        "entities": list(entities),
        "intent_ranking": [{"name": intent, "confidence": confidence}],
    }


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_client(
    handler: Callable[[httpx.Request], httpx.Response], clock: Clock | None = None, **kw
) -> tuple[NluClient, httpx.AsyncClient]:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    client = NluClient(
        http, StaticEndpoint(URL, "tok"), clock=clock or Clock(), backoff=(1.0, 8.0), **kw
    )
    return client, http


async def test_uses_rasa_and_normalises_its_entities() -> None:
    text = "在狗东花了三百五十买的充电宝"
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            json=rasa_answer(
                text,
                entities=[
                    {"entity": "platform", "value": "狗东", "start": 1, "end": 3},
                    {"entity": "amount", "value": "三百五十", "start": 5, "end": 9},
                    {"entity": "product", "value": "充电宝", "start": 11, "end": 14},
                ],
            ),
        )

    client, http = make_client(handler)
    async with http:
        parse = await client.parse(text, NOW)
    assert seen[0].url.params["token"] == "tok"
    assert json.loads(seen[0].content) == {"text": text}
    assert (parse.intent, parse.source) == ("complain", "rasa")
    assert parse.values("platform") == ["京东"]
    assert parse.values("amount") == [350]
    assert parse.first("product") is not None
    assert client.status()["engine"] == "rasa"


async def test_rule_found_numbers_win_over_rasa_spans() -> None:
    text = "证书号2016010901123456查一下"

    def handler(request: httpx.Request) -> httpx.Response:
        # Rasa cut the number short; the regex extractor's whole number must win.
        return httpx.Response(
            200,
            json=rasa_answer(
                text,
                "check_ccc_cert",
                entities=[
                    {"entity": "cert_no", "value": "20160109", "start": 3, "end": 11},
                ],
            ),
        )

    client, http = make_client(handler)
    async with http:
        parse = await client.parse(text, NOW)
    assert parse.values("cert_no") == ["2016010901123456"]


async def test_a_model_guess_inside_a_case_number_does_not_hide_it() -> None:
    """The model tags the tail of a hyphenated case number as an amount; Rasa's own regex
    found the whole number: the case number is what the bot must see."""
    text = "查询案件JB-20260808-000123"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json=rasa_answer(
                text,
                "case_status",
                entities=[
                    {"entity": "amount", "value": "000123", "start": 16, "end": 22},
                    {"entity": "case_id", "value": "JB-20260808-000123", "start": 4, "end": 22},
                ],
            ),
        )

    client, http = make_client(handler)
    async with http:
        parse = await client.parse(text, NOW)
    assert parse.values("case_id") == ["JB20260808000123"]
    assert parse.values("amount") == []


@pytest.mark.parametrize(
    "failure",
    [
        lambda r: httpx.Response(500, text="boom"),
        lambda r: httpx.Response(409, json={"error": "no model loaded"}),
        lambda r: httpx.Response(200, text="not json"),
        lambda r: httpx.Response(200, json={"unexpected": True}),
    ],
    ids=["500", "409-loading", "not-json", "no-intent"],
)
async def test_falls_back_to_rules_on_bad_answers(failure) -> None:
    client, http = make_client(failure)
    async with http:
        parse = await client.parse("查一下TS20261127000042", NOW)
    assert parse.source == "rules"
    assert parse.intent == "case_status"
    assert parse.values("case_id") == ["TS20261127000042"]
    assert client.status()["engine"] == "rules"


async def test_timeout_falls_back_and_backs_off_then_recovers() -> None:
    clock = Clock()
    calls = 0
    healthy = False

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if not healthy:
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(200, json=rasa_answer("你好", "greet"))

    client, http = make_client(handler, clock)
    async with http:
        assert (await client.parse("你好", NOW)).source == "rules"
        assert (await client.parse("你好呀", NOW)).source == "rules"
        assert calls == 1, "a failed Rasa is skipped during the back-off, not retried per message"
        status = client.status()
        assert status["engine"] == "rules" and "ReadTimeout" in status["detail"]
        healthy = True
        clock.now += 1.5
        parse = await client.parse("你好", NOW)
        assert (parse.source, parse.intent) == ("rasa", "greet")
        assert client.status()["engine"] == "rasa"


async def test_connection_refused_is_a_fallback_not_an_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client, http = make_client(handler)
    async with http:
        parse = await client.parse("我要投诉", NOW)
    assert parse.source == "rules" and parse.intent in INTENTS


async def test_cache_answers_repeats_without_calling_rasa() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(200, json=rasa_answer("谢谢", "thank"))

    client, http = make_client(handler, cache_size=2)
    async with http:
        for text in ["谢谢", "谢谢", "多谢", "谢谢", "感谢", "谢谢"]:
            assert (await client.parse(text, NOW)).intent == "thank"
        assert calls == 3, "repeats are served from the cache; 谢谢 stays as the most recent"
        await client.parse("多谢", NOW)
    assert calls == 4, "多谢 was the least recently used of three and left the 2-entry cache"


async def test_nlu_fallback_becomes_out_of_scope_with_low_confidence() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = rasa_answer("嗯哼", "nlu_fallback", 0.3)
        body["intent_ranking"] = [
            {"name": "nlu_fallback", "confidence": 0.3},
            {"name": "affirm", "confidence": 0.21},
        ]
        return httpx.Response(200, json=body)

    client, http = make_client(handler)
    async with http:
        parse = await client.parse("嗯哼", NOW)
    assert parse.intent == "out_of_scope"
    assert parse.confidence == pytest.approx(0.21)


async def test_unset_or_loading_server_uses_rules_without_a_request() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = NluClient(http, StaticEndpoint(None))
        assert (await client.parse("人工客服", NOW)).intent == "human_handoff"
        assert client.status() == {"engine": "rules", "detail": "no Rasa server (unset)"}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "x" * 10_000,
        "😀😂🤣",
        "\x00\x01\x1b[31m\x7f",
        "Привет, как дела?",
        "مرحبا",
        "\ud800",
        "\u200b\u200b",
        "你好\n\t\r世界",
    ],
    ids=[
        "empty",
        "spaces",
        "10k",
        "emoji",
        "control",
        "cyrillic",
        "arabic",
        "surrogate",
        "zero-width",
        "whitespace",
    ],
)
async def test_hostile_input_gives_a_valid_parse(text: str) -> None:
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        sent.append(body["text"])
        return httpx.Response(
            200,
            json=rasa_answer(
                body["text"],
                "out_of_scope",
                0.4,
                entities=[
                    {"entity": "amount", "value": "x", "start": 0, "end": 99_999},  # nonsense span
                ],
            ),
        )

    client, http = make_client(handler)
    async with http:
        parse = await client.parse(text, NOW)
    assert parse.intent in INTENTS and 0.0 <= parse.confidence <= 1.0
    assert all(0 <= e.start < e.end <= len(text) for e in parse.entities)
    assert all(len(s) <= 512 for s in sent)
    json.dumps(parse.as_dict(), ensure_ascii=False)


@pytest.mark.parametrize(
    ("entity", "span", "value"),
    [
        ("amount", "1.2万", 12000),
        ("amount", "两千", 2000),
        ("phone", "+86 138-1234-5678", "13812345678"),
        ("cert_no", "２０１６０１０９０１１２３４５６", "2016010901123456"),
        ("case_id", "ts-20261020-000222", "TS20261020000222"),
        ("platform", "拼夕夕", "拼多多"),
        ("date", "昨天", "2026-11-26"),
        ("id_number", "11010519491231002x", "11010519491231002X"),
        ("id_number", "110105194912310021", None),
        ("merchant", " 小王数码，", "小王数码"),
    ],
)
def test_normalise_value(entity: str, span: str, value: object) -> None:
    assert normalise_value(entity, span, span, NOW) == value


def test_merge_prefers_rule_numbers_and_keeps_rasa_names() -> None:
    rules = [Entity("phone", "13812345678", 2, 13), Entity("product", "白酒", 20, 22)]
    rasa = [
        Entity("phone", "1381234", 2, 9),
        Entity("person_name", "张伟", 15, 17),
        Entity("product", "飞天茅台", 18, 22),
    ]
    merged = merge_entities(rules, rasa)
    assert [(e.entity, e.value) for e in merged] == [
        ("phone", "13812345678"),
        ("person_name", "张伟"),
        ("product", "飞天茅台"),
    ]


def test_merge_counts_adjacent_spans_with_one_meaning_once() -> None:
    rasa = [Entity("platform", "微信", 0, 3), Entity("platform", "微信", 3, 5)]
    assert [e.value for e in merge_entities([], rasa)] == ["微信"]
