"""``weiquan wechat``: operator commands for the WeChat Official Account."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bot.db.engine import engine_from_settings, make_sessionmaker
from bot.settings import Settings
from integrations.wechat.api import ApiError, WechatApi
from integrations.wechat.menu import MENU_FILE, MenuError, load_menu

app = typer.Typer(help="WeChat Official Account.", no_args_is_help=True)


async def _install(menu: dict[str, object]) -> None:
    settings = Settings()
    wechat = settings.wechat
    if not wechat.can_call_api:
        raise ApiError(None, "set WEIQUAN_WECHAT_APP_ID and WEIQUAN_WECHAT_APP_SECRET first")
    engine = engine_from_settings(settings)
    api = WechatApi(wechat, make_sessionmaker(engine))
    try:
        # The token comes from the database cache the running workers share, so installing
        # the menu does not knock their token out.
        await api.create_menu(menu)
    finally:
        api.close()
        await engine.dispose()


@app.command("menu")
def menu_cmd(
    file: Annotated[
        Path, typer.Option("--file", "-f", help="Menu YAML", exists=True, dir_okay=False)
    ] = MENU_FILE,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check and print, do not install")
    ] = False,
) -> None:
    """Install the custom menu (投诉 / 举报 / 查证书 / 查进度 / 人工) from a YAML file."""
    console = Console(stderr=True)
    try:
        menu = load_menu(file)
    except MenuError as exc:
        console.print(f"[red]{file}: {exc}[/red]")
        raise typer.Exit(2) from None
    if dry_run:
        typer.echo(json.dumps(menu, ensure_ascii=False, indent=2))
        return
    try:
        asyncio.run(_install(menu))
    except ApiError as exc:
        console.print(f"[red]WeChat refused the menu: {exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"[green]menu installed ({len(menu['button'])} top-level buttons)[/green]")
