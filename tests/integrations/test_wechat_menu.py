"""``weiquan wechat menu``: the YAML is checked against WeChat's limits and installed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from bot.cli import wechat as wechat_cli
from integrations.wechat.menu import MenuError, load_menu
from tests.integrations.wechat_double import (
    APP_ID,
    SECRET,
    TOKEN,
    WechatDouble,
    double_server,  # noqa: F401  (the `double` fixture)
)


def test_the_shipped_menu_has_the_six_entries() -> None:
    menu = load_menu()
    keys = [b.get("key") for b in menu["button"]] + [
        s["key"] for b in menu["button"] for s in b.get("sub_button", [])
    ]
    names = [b["name"] for b in menu["button"]] + [
        s["name"] for b in menu["button"] for s in b.get("sub_button", [])
    ]
    assert {"/complaint", "/report", "/photo", "/ccc", "/status", "/human"} <= set(keys)
    assert {"投诉", "举报", "拍照查验", "查证书", "查进度", "人工"} <= set(names)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("button: []", "1–3"),
        ("button:\n" + "  - {type: click, name: a, key: /a}\n" * 4, "1–3"),
        ("button:\n  - {type: click, name: 投诉投诉投诉, key: /a}", "name"),
        ("button:\n  - {type: click, name: a}", "key"),
        ("button:\n  - {type: view, name: a, url: 'ftp://x'}", "url"),
        ("button:\n  - {type: teleport, name: a}", "unsupported"),
        ("button:\n  - name: a\n    sub_button: []", "sub_button"),
    ],
)
def test_menu_rules_are_checked_before_calling_wechat(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "menu.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MenuError, match=problem):
        load_menu(path)


def test_menu_command_installs_through_the_api(
    tmp_path: Path, sqlite_url: str, double: WechatDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "WEIQUAN_DATABASE_URL": sqlite_url,
        "WEIQUAN_DATA_DIR": str(tmp_path / "var"),
        "WEIQUAN_WECHAT_TOKEN": TOKEN,
        "WEIQUAN_WECHAT_APP_ID": APP_ID,
        "WEIQUAN_WECHAT_APP_SECRET": SECRET,
        "WEIQUAN_WECHAT_API_BASE_URL": double.base_url,
    }.items():
        monkeypatch.setenv(name, value)
    # Wired as the lead wires it: `weiquan wechat menu`.
    app = typer.Typer()
    app.add_typer(wechat_cli.app, name="wechat")
    runner = CliRunner()
    dry = runner.invoke(app, ["wechat", "menu", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout) == load_menu()
    assert double.calls == []

    result = runner.invoke(app, ["wechat", "menu"])
    assert result.exit_code == 0, result.output
    [call] = double.calls_to("/cgi-bin/menu/create")
    assert call.body == load_menu()
    # A second run reuses the token cached in the database (workers share it).
    assert runner.invoke(app, ["wechat", "menu"]).exit_code == 0
    assert len(double.calls_to("/cgi-bin/token")) == 1

    monkeypatch.setenv("WEIQUAN_WECHAT_APP_SECRET", "wrong")
    monkeypatch.setenv(
        "WEIQUAN_DATABASE_URL", sqlite_url.replace("weiquan.sqlite3", "other.sqlite3")
    )
    from bot.db.migrate import upgrade

    upgrade(sqlite_url.replace("weiquan.sqlite3", "other.sqlite3"))
    refused = runner.invoke(app, ["wechat", "menu"])
    assert refused.exit_code == 1 and "40013" in refused.output
