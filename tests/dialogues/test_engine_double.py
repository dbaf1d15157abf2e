"""The in-memory chat is held to the app: one scripted conversation, the same replies.

Several users on several channels go through every action the engine returns (a case
filed, a linked complaint, a duplicate report, a queue request repeated and withdrawn, a
safety word, two misunderstandings, photos attached to an own and a foreign case, claims
that fail, succeed and lock) once through ``EngineChat`` and once through the app's pipeline
on SQLite, message by message.
"""

from __future__ import annotations

import uuid
from typing import Any

from bot.messages import InboundMessage
from bot.settings import Settings
from dialogues.actions import ReadPhoto, receipt_types
from integrations.ccc import importer, sample
from tests.dialogues.engine_double import EngineChat, sample_knowledge
from tests.dialogues.office import Office
from tests.factories import Chat, chat_for, running_app

VALID_ID = "11010519491231002X"
REPORT = [
    "我要举报",
    "/choice:online_shop",
    "某某 数码专营店",
    "https://shop12345.taobao.com/?spm=a1z10",
    "/choice:counterfeit_brand",
    "索尼",
]
# After "is this your own purchase".
FACTS = ["11月20日在淘宝上看到", "店里大量卖假冒的索尼耳机，价格只有正品三分之一，包装印刷模糊"]
COMPLAINT = [
    "蓝牙耳机",
    "索尼",
    "/skip",
    "淘宝",
    "/skip",
    "2026-11-20",
    "199元",
    "买到的是假耳机，商家拒绝退款",
    "退款",
    "/skip",
    "王五",
    "13912345678",
    "上海市浦东新区世纪大道100号",
    "/no",
    "/yes",
    "/confirm",
]
CHATS: dict[str, dict[str, Any]] = {
    "ana": {"channel": "wechat"},
    "bo": {"channel": "telegram"},
    "cy": {"channel": "rest"},
    "dee": {"channel": "rest"},
    "en": {"channel": "rest", "locale": "en-US"},
}
SCRIPT: list[tuple[str, str]] = [
    ("ana", "你好"),
    ("ana", "转人工"),
    ("ana", "转人工"),
    ("ana", "/handover_cancel"),
    ("ana", "photo:1"),
    ("ana", "/attach:JB20261127000009"),
    *(("ana", said) for said in REPORT),
    ("ana", "/yes"),  # a dispute of the reporter's own: a linked complaint offered
    *(("ana", said) for said in FACTS),
    ("ana", "/done"),  # the photo sent before the report came with it
    ("ana", "/choice:none"),
    ("ana", "/choice:real_name"),
    ("ana", "/no"),  # no reward asked for (the question stays: staff decide on own purchases)
    ("ana", "王五"),
    ("ana", VALID_ID),
    ("ana", "13912345678"),
    ("ana", "/confirm"),
    ("ana", "/link:complaint"),
    *(("ana", said) for said in COMPLAINT),
    ("ana", "photo:2"),
    ("ana", "/attach:JB20261127000001"),
    ("ana", "我的投诉怎么样了"),
    ("ana", "充电宝充电时起火了，孩子手被烧伤"),
    ("bo", "JB20261127000001"),
    ("bo", "5678"),
    ("bo", "13912340000"),
    ("bo", "+86 139-1234-5678"),
    ("bo", "我的举报怎么样了"),
    ("cy", "啦啦啦"),
    ("cy", "咕噜咕噜"),
    ("cy", "/handover_cancel"),
    *(("cy", said) for said in REPORT),
    ("cy", "/no"),
    *(("cy", said) for said in FACTS),
    ("cy", "/skip"),
    ("cy", "/choice:none"),
    ("cy", "/choice:anonymous"),
    ("cy", "/no"),
    ("cy", "/confirm"),
    ("cy", "photo:3"),
    ("cy", "/attach:JB20261127000001"),
    ("dee", "TS20261127000001"),
    *(("dee", wrong) for wrong in ("13900000000", "13911111111", "13922222222")),
    *(("dee", wrong) for wrong in ("13933333333", "13944444444")),
    ("dee", "TS20261127000001"),
    ("dee", "13912345678"),
    ("en", "hello"),
    ("en", "I want a real person"),
    ("en", "/handover_cancel"),
    ("en", "<voice>"),
    ("en", "subscribe to power bank alerts"),
    ("en", "subscribe to brand Anker"),
    ("en", "my subscriptions"),
    ("en", "unsubscribe 1"),
    ("ana", "订阅充电宝的安全提醒"),
    ("ana", "同意接收订阅消息"),
    ("en", "allow subscription messages"),
    ("cy", "订阅广东的预警"),
    ("cy", "退订"),
    ("en", "/ccc"),
    ("en", "2024010914000001"),
    ("en", "watch this certificate"),
    ("en", "my subscriptions"),
]


async def play(chat: EngineChat | Chat, said: str) -> list[dict[str, Any]]:
    """One message of the script: a photo by seed, a voice message, or text and payloads."""
    if said.startswith("photo:"):
        replies = await chat.photo(seed=int(said.removeprefix("photo:")))
    elif said == "<voice>":
        replies = await voice(chat)
    else:
        replies = await chat.say(said)
    return [r.as_dict() for r in replies]


async def voice(chat: EngineChat | Chat) -> list[Any]:
    if isinstance(chat, EngineChat):
        return await chat.send("voice")
    handled = await chat.pipeline.handle(
        InboundMessage(
            channel=chat.channel,
            channel_message_id=uuid.uuid4().hex,
            sender_id=chat.sender,
            kind="voice",
            received_at=chat.now,
            locale=chat.locale,
        )
    )
    return list(handled.replies)


async def test_the_double_gives_the_replies_the_app_gives(sqlite_settings: Settings) -> None:
    office = Office()
    # Both read the same SAMPLE certificates (a certificate is watched after its check).
    knowledge = await sample_knowledge()
    double = {
        name: EngineChat(office, sender=name, knowledge=knowledge, **kw)
        for name, kw in CHATS.items()
    }
    async with running_app(sqlite_settings) as app:
        await importer.upsert(app.state.db_engine, list(sample.generate(20)))
        real = {name: chat_for(app, sender=name, **kw) for name, kw in CHATS.items()}
        for step, (who, said) in enumerate(SCRIPT):
            expected = await play(real[who], said)
            assert await play(double[who], said) == expected, f"step {step}: {who} {said!r}"
    # Photos are read only with a reader configured (neither side has one here); ReadPhoto is
    # played on the double in test_photo_check.py and through the app in test_photo_reading.py.
    assert {type(a) for a in office.applied} == set(receipt_types()) - {ReadPhoto}
