"""Replies as WeChat text, within 2,048 bytes, and the CDATA and migration details."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from dialogues.model import Button, Reply
from integrations.wechat import render, xmlcodec


def test_the_last_question_s_choices_are_numbered_and_clickable() -> None:
    replies = [
        Reply("已取消", [Button("主菜单", "/menu")]),
        Reply(
            "请选择：\n1. 我要投诉\n2. 使用帮助",
            [Button("我要投诉", "/complaint"), Button("使用帮助", "/help")],
        ),
    ]
    text = render.render(replies)
    # The menu's own numbered lines become links in place; nothing is listed twice.
    assert text.count("我要投诉") == 2  # once as the link target, once as its label
    assert (
        '1. <a href="weixin://bizmsgmenu?msgmenucontent=我要投诉&msgmenuid=2">我要投诉</a>' in text
    )
    assert '<a href="weixin://bizmsgmenu?msgmenucontent=主菜单&msgmenuid=1">主菜单</a>' in text
    assert render.resolve("我要投诉", "2", replies) == "/complaint"
    assert render.resolve("主菜单", "1", replies) == "/menu"
    assert (
        render.resolve("2", None, replies) == "/help"
    )  # numbers count the last question's choices
    assert render.resolve("使用帮助", None, replies) == "/help"
    assert render.resolve("3", None, replies) is None
    assert render.resolve("随便说说", None, replies) is None
    # A lone button is not numbered: a typed "1" stays an answer (e.g. an amount).
    only_cancel = [Reply("花了多少钱？", [Button("取消", "/cancel")])]
    assert render.resolve("1", None, only_cancel) is None
    assert "1. " not in render.render(only_cancel)


def test_titles_cannot_break_the_link() -> None:
    assert (
        render.link(1, 'a"<b>&c')
        == '<a href="weixin://bizmsgmenu?msgmenucontent=abc&msgmenuid=1">abc</a>'
    )


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from('耳机假货ab ]>\n<a href="x">链接</a>'), max_size=3000))
def test_split_and_shorten_respect_the_byte_limit(text: str) -> None:
    chunks = render.split(text, 2048)
    assert all(len(chunk.encode()) <= 2048 for chunk in chunks)
    # Nothing is lost but the line breaks where the text was cut (and blank chunks).
    assert "".join("".join(chunks).split()) == "".join(text.split())
    assert len(render.shorten(text, 2048).encode()) <= 2048


def test_cdata_survives_a_closing_sequence_in_user_text() -> None:
    reply = xmlcodec.text_reply(to_user="o]]>x", from_user="gh", content="a]]><b>&c]]>", now=1)
    fields = xmlcodec.parse(reply)
    assert fields["Content"] == "a]]><b>&c]]>" and fields["ToUserName"] == "o]]>x"


def test_migration_creates_and_drops_the_token_table(tmp_path: Path) -> None:
    from alembic import command

    from bot.db.migrate import alembic_config, upgrade

    path = tmp_path / "m.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)
    with sqlite3.connect(path) as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(wechat_access_tokens)")}
    assert columns == {"app_id", "access_token", "expires_at", "updated_at"}
    command.downgrade(alembic_config(url), "0002")
    with sqlite3.connect(path) as db:
        assert not list(
            db.execute("SELECT name FROM sqlite_master WHERE name = 'wechat_access_tokens'")
        )
