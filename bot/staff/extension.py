"""The back office as an app extension: staff API, console, outbox handlers, claim timeouts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI

from bot.runtime import BackofficeRuntime
from bot.settings import Settings
from bot.tls import client_tls

log = logging.getLogger(__name__)


class BackofficeExtension:
    """Plugs into ``create_app(extensions=[...])``; reads the app's settings at start-up."""

    name = "backoffice"

    def __init__(
        self,
        *,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], datetime] | None = None,
        run_jobs: bool = True,
    ) -> None:
        self._http = http
        self._clock = clock
        self._run_jobs = run_jobs

    def install(self, app: FastAPI) -> None:
        from bot.api import accounts, assists, audit, auth, cases, queue, stats, transfer
        from bot.console import accounts as console_accounts
        from bot.console import routes as console

        routers = (
            auth.router,
            accounts.router,
            audit.router,
            cases.router,
            assists.router,
            queue.router,
            transfer.router,
        )
        for router in (*routers, stats.router, console_accounts.router):
            app.include_router(router)
        console.install(app)

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        from bot import alerts, backoffice, transfer
        from bot.handover import staff as handover_desk

        settings: Settings = app.state.settings
        http = self._http or httpx.AsyncClient(
            timeout=settings.backoffice.timeout, verify=client_tls()
        )
        runtime = BackofficeRuntime(
            settings=settings,
            sessions=app.state.sessions,
            evidence=app.state.evidence,
            http=http,
            handoff=app.state.handoff,
            clock=self._clock or (lambda: datetime.now(UTC)),
            outbox=app.state.outbox,
            directory=app.state.sellers.directory,
        )
        app.state.backoffice = runtime
        # Forwarded cases go to the receiving office's own URL whether or not a back office is set.
        app.state.outbox.register(
            backoffice.OFFICE_TOPIC, transfer.OfficeDelivery(runtime, runtime.directory)
        )
        if runtime.handoff.enabled:
            app.state.outbox.register(backoffice.TOPIC, backoffice.Delivery(runtime))
        else:
            log.info("backoffice: WEIQUAN_BACKOFFICE_URL not set, hand-off disabled")
        tasks: list[asyncio.Task[Any]] = []
        if self._run_jobs:
            tasks.append(
                asyncio.create_task(handover_desk.timeout_loop(runtime), name="claim-timeouts")
            )
            # A fan-out a restart interrupted goes on by itself, from where it stopped.
            resuming = alerts.resume(
                runtime.sessions,
                now=runtime.now,
                running=runtime.alert_runs,
                wake=runtime.wake_outbox,
            )
            tasks.append(asyncio.create_task(resuming, name="alert-resume"))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
                except Exception:
                    # A job that failed must not stop the rest of the shutdown.
                    log.exception("backoffice: the %s job had failed", task.get_name())
            if self._http is None:
                await http.aclose()
