"""``weiquan telegram``: long polling for development, and webhook registration."""

from __future__ import annotations

import asyncio
import json
import logging

import typer
from rich.console import Console

from bot.settings import Settings
from integrations.telegram.admin import delete_webhook, describe, set_commands, set_webhook
from integrations.telegram.polling import run_polling
from integrations.telegram.settings import TelegramSettings

app = typer.Typer(help="Telegram channel.", no_args_is_help=True)
console = Console(stderr=True)


def _telegram(settings: Settings | None = None) -> TelegramSettings:
    telegram = (settings or Settings()).telegram
    if not telegram.configured:
        console.print("[red]Set WEIQUAN_TELEGRAM_TOKEN to the token BotFather gave you.[/red]")
        raise typer.Exit(2)
    return telegram


@app.command("poll")
def poll() -> None:
    """Run the bot with long polling (no public URL needed); removes any webhook first."""
    settings = Settings()
    _telegram(settings)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    console.print("[green]polling Telegram; Ctrl-C to stop[/green]")
    try:
        asyncio.run(run_polling(settings))
    except KeyboardInterrupt:
        console.print("stopped")


@app.command("set-webhook")
def set_webhook_cmd(
    url: str = typer.Argument(..., help="Public HTTPS URL ending in /webhooks/telegram"),
    drop_pending: bool = typer.Option(False, help="Discard updates Telegram is still holding"),
) -> None:
    """Register URL with Telegram, with WEIQUAN_TELEGRAM_SECRET as the secret token."""
    telegram = _telegram()
    try:
        info = asyncio.run(set_webhook(telegram, url, drop_pending=drop_pending))
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    typer.echo(json.dumps(describe(info), ensure_ascii=False, indent=2))


@app.command("set-commands")
def set_commands_cmd() -> None:
    """Install the bot's command menu (/photo 拍照查验, /start, /status, /help, /cancel)."""
    asyncio.run(set_commands(_telegram()))
    typer.echo("commands set")


@app.command("delete-webhook")
def delete_webhook_cmd() -> None:
    """Stop webhook delivery (e.g. before polling from another machine)."""
    removed = asyncio.run(delete_webhook(_telegram()))
    typer.echo("webhook removed" if removed else "no webhook was set")
