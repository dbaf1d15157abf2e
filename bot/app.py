"""The ASGI app factory; long-lived resources live in the lifespan, never at import time."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import cast

import httpx
from fastapi import Depends, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp

from bot.backoffice import Handoff
from bot.business import offices
from bot.business.identity import Sellers
from bot.crypto import keyring_from_settings
from bot.db.engine import engine_from_settings, make_sessionmaker
from bot.db.migrate import upgrade_async
from bot.evidence import EvidenceStore
from bot.extensions import Extension
from bot.housekeeping import housekeeping_loop
from bot.knowledge.cases import TypicalCases
from bot.knowledge.service import KnowledgeService, load_knowledge_base
from bot.outbox import OutboxDispatcher
from bot.photowork import PhotoDesk, PhotoReader, prepare_worker
from bot.pipeline import Pipeline
from bot.senders import SenderIds
from bot.settings import Settings
from bot.status import ClaimPolicy
from bot.tls import client_tls
from bot.understanding import NluNormalizer
from bot.web import errors, health, ratelimit, rest
from bot.web.headers import CHAT_HEADERS, SecurityHeaders
from bot.web.limits import BodyLimit
from dialogues.engine import Engine
from integrations.ccc.http_registry import HttpRegistry
from integrations.ccc.registry import CertificateRegistry, EmbeddedRegistry
from integrations.ccc.service import CccService
from integrations.credit.http_registry import HttpCreditRegistry
from integrations.credit.registry import EmbeddedCreditRegistry
from integrations.credit.service import CreditService
from nlu.runtime import open_nlu

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "web" / "static"


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def build_registry(
    settings: Settings, http: httpx.AsyncClient
) -> tuple[CertificateRegistry, AsyncEngine | None]:
    """The embedded registry on its own reader engine, or the configured registry service."""
    chat = settings.chat
    if chat.ccc_registry_url:
        registry = HttpRegistry(
            http,
            chat.ccc_registry_url,
            token=chat.ccc_registry_token,
            timeout=chat.ccc_registry_timeout,
            retries=chat.ccc_registry_retries,
            cache_ttl=chat.ccc_registry_cache_ttl,
        )
        return registry, None
    embedded, engine = EmbeddedRegistry.for_reading(settings.resolved_database_url)
    return embedded, engine


async def _local_reader(settings: Settings, stack: AsyncExitStack) -> PhotoReader | None:
    """The OCR worker pool (bot/photocheck), when photo reading is on; loaded lazily."""
    if settings.chat.photo_reader != "local":
        return None
    pool_module = importlib.import_module("bot.photocheck.pool")
    pool = pool_module.OcrPool(
        workers=1,
        queue=settings.chat.photo_read_limit,
        timeout=settings.chat.photo_read_seconds,
        prepare=functools.partial(
            prepare_worker, settings.chat.photo_threads, settings.chat.photo_read_seconds
        ),
    )
    stack.push_async_callback(pool.close)
    return cast(PhotoReader, pool)


def create_app(
    settings: Settings | None = None,
    *,
    migrate: bool = True,
    extensions: list[Extension] | None = None,
    run_outbox: bool = True,
    freeze_heap: bool = False,
    photo_reader: PhotoReader | None = None,
) -> FastAPI:
    settings = settings or Settings()
    extensions = list(extensions or [])

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        if migrate:
            await upgrade_async(settings.resolved_database_url)
        # This app's keys and hand-off travel with what it builds, never through the process:
        # personal data with its engines and evidence store (its data dir or WEIQUAN_PII_KEY),
        # sender ids with its channel storage, the hand-off with what files or changes a case.
        keyring = keyring_from_settings(settings)
        senders = SenderIds.from_settings(settings)
        handoff = Handoff.from_settings(settings)
        async with AsyncExitStack() as stack:
            db_engine = engine_from_settings(settings, keyring)
            stack.push_async_callback(db_engine.dispose)
            sessions = make_sessionmaker(db_engine)
            http = await stack.enter_async_context(
                httpx.AsyncClient(timeout=settings.chat.ccc_registry_timeout, verify=client_tls())
            )
            # The NLU client gets its own client: no proxy from the environment on loopback.
            nlu_http = await stack.enter_async_context(
                httpx.AsyncClient(trust_env=False, verify=client_tls())
            )
            registry, registry_engine = build_registry(settings, http)
            if registry_engine is not None:
                stack.push_async_callback(registry_engine.dispose)
            knowledge = KnowledgeService(
                CccService(registry), await load_knowledge_base(), TypicalCases(sessions)
            )
            credit = CreditService(
                HttpCreditRegistry(http, settings.credit_service_url)
                if settings.credit_service_url
                else EmbeddedCreditRegistry(registry_engine or sessions)
            )
            understanding = await stack.enter_async_context(
                open_nlu(settings.nlu, nlu_http, log_file=settings.data_dir / "log" / "rasa.log")
            )
            sellers = Sellers(directory=offices.load(settings.offices_file or offices.SAMPLE))
            # The address parser takes a second or more to load: before serving, so no filing
            # (on the event loop) waits for it and no request meets a half-started process.
            await asyncio.to_thread(sellers.regions.warm)
            evidence = EvidenceStore(settings.evidence_dir, keyring)
            reader = photo_reader or await _local_reader(settings, stack)
            photos = (
                PhotoDesk(reader, evidence, limit=settings.chat.photo_read_limit)
                if reader is not None
                else None
            )
            if photos is not None:
                stack.push_async_callback(photos.drain)
            pipeline = Pipeline(
                sessions,
                Engine(),
                understanding,
                NluNormalizer(),
                senders=senders,
                handoff=handoff,
                knowledge=knowledge,
                claims=ClaimPolicy.from_settings(settings),
                sellers=sellers,
                credit=credit,
                photos=photos,
                staff_hours=settings.chat.hours(),
            )
            stack.push_async_callback(pipeline.aclose)
            app.state.settings = settings
            app.state.db_engine = db_engine
            app.state.sessions = sessions
            app.state.http = http
            app.state.knowledge = knowledge
            app.state.senders = senders
            app.state.handoff = handoff
            app.state.evidence = evidence
            app.state.photos = photos
            app.state.understanding = understanding
            app.state.pipeline = pipeline
            app.state.sellers = sellers
            app.state.outbox = OutboxDispatcher(
                sessions,
                batch=settings.outbox_batch,
                poll_seconds=settings.outbox_poll_seconds,
                max_retry_after=settings.outbox_max_retry_after_seconds,
            )
            for extension in extensions:
                await stack.enter_async_context(extension.lifespan(app))
            if run_outbox:
                app.state.outbox.start()
                stack.push_async_callback(app.state.outbox.stop)
                # Background work goes with the outbox: uploads that never reached a case.
                sweeper = asyncio.create_task(
                    housekeeping_loop(
                        sessions,
                        app.state.evidence,
                        orphan_hours=settings.chat.evidence_orphan_hours,
                    ),
                    name="evidence-housekeeping",
                )
                stack.push_async_callback(_cancel, sweeper)
            if freeze_heap:
                # Everything built so far lives as long as the process: keep it out of the
                # cyclic collector's full passes, which otherwise walk it all (80–100 ms
                # pauses of the event loop, measured, with every open request waiting).
                gc.collect()
                gc.freeze()
            yield

    # The API description maps every route for an attacker: not served in production.
    public_docs = settings.environment != "production"
    app = FastAPI(
        title="Weiquan 维权助手",
        version="0.1.0",
        description="Complaints and tip-offs about counterfeit and substandard goods.",
        lifespan=lifespan,
        docs_url="/docs" if public_docs else None,
        redoc_url="/redoc" if public_docs else None,
        openapi_url="/openapi.json" if public_docs else None,
    )
    app.state.settings = settings
    errors.install(app)
    ratelimit.install(app, settings.chat)
    app.add_middleware(SecurityHeaders)
    app.include_router(health.router)
    app.include_router(rest.router, dependencies=[Depends(ratelimit.limit_sender)])
    for extension in extensions:
        extension.install(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="chat-static")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def chat_page() -> HTMLResponse:
        return HTMLResponse(
            (STATIC / "chat.html").read_text(encoding="utf-8"), headers=CHAT_HEADERS
        )

    return app


def default_extensions() -> list[Extension]:
    """The back office and the channels; each channel stays idle until its settings are given."""
    from bot.staff.extension import BackofficeExtension
    from integrations.telegram import TelegramExtension
    from integrations.wechat import WechatExtension

    return [BackofficeExtension(), TelegramExtension(), WechatExtension()]


def create_asgi(settings: Settings | None = None) -> ASGIApp:
    """The served app: the FastAPI app with its channels, behind the per-address rate limit
    and the body-size limit (so a refused client's body is never read)."""
    settings = settings or Settings()
    app = create_app(settings, extensions=default_extensions(), freeze_heap=True)
    return ratelimit.AddressLimit(
        BodyLimit(app, settings.chat.max_body_bytes), app.state.chat_limits
    )
