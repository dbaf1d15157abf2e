"""``weiquan serve``: run the app on uvicorn with settings from the environment."""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import typer
import uvicorn
from rich.console import Console

from bot.settings import Settings

err = Console(stderr=True)


@contextmanager
def shared_rasa(settings: Settings) -> Iterator[None]:
    """One set of supervised Rasa replicas for all workers (each worker would otherwise
    start its own, ~1.3 GB per replica); the workers get their URLs comma-separated."""
    from nlu.replicas import RasaReplicas
    from nlu.train import ROOT, train

    err.print("training or reusing the NLU model (unchanged data never retrains)…")
    nlu = settings.nlu
    model = train(model_dir=nlu.model_dir, rasa_python=nlu.rasa_python).model
    token = secrets.token_urlsafe(24)
    replicas = RasaReplicas(
        rasa_python=nlu.rasa_python,
        model=model,
        count=nlu.replicas,
        token=token,
        log_file=settings.data_dir / "log" / "rasa.log",
        cwd=ROOT,
    )
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(replicas.start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="rasa-supervisor", daemon=True)
    thread.start()
    started.wait(timeout=60)
    urls = ",".join(replicas.urls)
    os.environ.update(WEIQUAN_NLU_URL=urls, WEIQUAN_NLU_TOKEN=token, WEIQUAN_NLU_MANAGE="false")
    err.print(f"Rasa starting at {urls} (rule fallback answers until it is up)")
    try:
        yield
    finally:
        asyncio.run_coroutine_threadsafe(replicas.stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)


def serve(
    host: str | None = typer.Option(
        None, help="Interface to bind (default WEIQUAN_HOST or 127.0.0.1)"
    ),
    port: int | None = typer.Option(None, help="Port (default WEIQUAN_PORT or 8000)"),
    workers: int = typer.Option(1, min=1, help="Worker processes"),
) -> None:
    """Start the service (web chat at /, REST channel, WeChat and Telegram webhooks)."""
    settings = Settings()
    host, port = host or settings.host, port or settings.port
    share = workers > 1 and settings.nlu.manage and not settings.nlu.url
    with shared_rasa(settings) if share else _nothing():
        err.print(f"维权助手 Weiquan on http://{host}:{port}/ (data in {settings.data_dir})")
        uvicorn.run(
            "bot.app:create_asgi",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=settings.log_level,
            proxy_headers=True,
            access_log=False,
        )


@contextmanager
def _nothing() -> Iterator[None]:
    yield
