"""One call that gives the app (or the CLI) a working ``NluClient`` for its settings.

``WEIQUAN_NLU_URL`` set: use that server (or those, comma-separated). Otherwise, with
``WEIQUAN_NLU_MANAGE``, start and supervise ``WEIQUAN_NLU_REPLICAS`` local Rasa processes on
the model for the current training data, training it first in the background if it is missing. Either way
the client answers at once (rules until Rasa is up).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess  # noqa: S404 - only to type and kill our own training process
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx

from nlu.client import NluClient, RasaEndpoint, Replica, StaticEndpoint, rasa_session
from nlu.replicas import RasaReplicas
from nlu.train import ROOT, find_model, fingerprint, model_path, train

log = logging.getLogger(__name__)


class NluSettings(Protocol):
    """The fields of ``bot.settings.NluSettings`` (``WEIQUAN_NLU_*``) this module reads."""

    url: str | None
    token: str | None
    manage: bool
    timeout: float
    cache_size: int
    model_dir: Path
    replicas: int
    rasa_python: Path


@dataclass
class DeferredEndpoint:
    """Stands in for the supervisor while the model is still being trained."""

    target: RasaEndpoint | None = None
    note: str = "training model"

    @property
    def url(self) -> str | None:
        return self.target.url if self.target else None

    @property
    def token(self) -> str | None:
        return self.target.token if self.target else None

    @property
    def ready(self) -> bool:
        return bool(self.target and self.target.ready)

    @property
    def state(self) -> str:
        return self.target.state if self.target else self.note

    def replicas(self) -> list[Replica]:
        return list(self.target.replicas()) if self.target else []


def _replicas(settings: NluSettings, model: Path, log_file: Path) -> RasaReplicas:
    return RasaReplicas(
        rasa_python=settings.rasa_python,
        model=model,
        count=settings.replicas,
        log_file=log_file,
        cwd=ROOT,
    )


@contextlib.asynccontextmanager
async def open_nlu(
    settings: NluSettings,
    http: httpx.AsyncClient,
    *,
    log_file: Path,
    train_missing: bool = True,
) -> AsyncIterator[NluClient]:
    """Yield a ready-to-use client; Rasa (if managed, logging to ``log_file``) is stopped when
    the block exits."""
    supervisors: list[RasaReplicas] = []
    tasks: list[asyncio.Task[None]] = []
    endpoint: RasaEndpoint
    if settings.url:
        endpoint = StaticEndpoint(settings.url, settings.token)
    elif not settings.manage:
        endpoint = StaticEndpoint(None)
    else:
        current = model_path(settings.model_dir, fingerprint())
        model = current if current.is_file() else None
        if model is None and not train_missing:
            model = find_model(settings.model_dir)
        if model is not None:
            replicas = _replicas(settings, model, log_file)
            supervisors.append(replicas)
            await replicas.start()
            endpoint = replicas
        else:
            deferred = DeferredEndpoint()
            endpoint = deferred
            tasks.append(
                asyncio.create_task(_train_then_start(settings, deferred, supervisors, log_file))
            )
    # The Rasa processes the app runs itself are asked over an aiohttp session;
    # servers named by WEIQUAN_NLU_URL go through ``http`` (its proxies, TLS, settings).
    session = rasa_session() if not isinstance(endpoint, StaticEndpoint) else None
    client = NluClient(
        http,
        endpoint,
        timeout=settings.timeout,
        cache_size=settings.cache_size,
        session=session,
    )
    try:
        yield client
    finally:
        if session is not None:
            await session.close()
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for sup in supervisors:
            await sup.stop()


async def _train_then_start(
    settings: NluSettings,
    deferred: DeferredEndpoint,
    supervisors: list[RasaReplicas],
    log_file: Path,
) -> None:
    procs: list[subprocess.Popen[str]] = []
    try:
        result = await asyncio.to_thread(
            train,
            model_dir=settings.model_dir,
            rasa_python=settings.rasa_python,
            on_process=procs.append,
        )
    except asyncio.CancelledError:  # app shutting down: do not leave a training behind
        for proc in procs:
            proc.kill()
        raise
    except Exception as exc:  # the app keeps running on rules; /readyz shows why
        deferred.note = f"training failed: {exc}"[:300]
        log.exception("NLU training failed; answering with the rule fallback")
        return
    replicas = _replicas(settings, result.model, log_file)
    supervisors.append(replicas)
    await replicas.start()
    deferred.target = replicas
