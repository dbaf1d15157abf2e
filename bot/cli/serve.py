"""``weiquan serve``: run the app on uvicorn with settings from the environment."""

from __future__ import annotations

import typer
import uvicorn

from bot.settings import Settings


def serve(
    host: str | None = typer.Option(
        None, help="Interface to bind (default WEIQUAN_HOST or 127.0.0.1)"
    ),
    port: int | None = typer.Option(None, help="Port (default WEIQUAN_PORT or 8000)"),
    workers: int = typer.Option(1, min=1, help="Worker processes"),
) -> None:
    """Start the service (web chat at /, REST channel, staff API)."""
    settings = Settings()
    uvicorn.run(
        "bot.app:create_asgi",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_level=settings.log_level,
        proxy_headers=True,
        access_log=False,
    )
