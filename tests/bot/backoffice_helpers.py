"""Builders shared by the back-office tests: an app with the extension, staff, signed-in clients."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI

from bot.app import create_app
from bot.settings import BackofficeSettings, Settings
from bot.staff.accounts import add_staff
from bot.staff.extension import BackofficeExtension
from bot.web.limits import BodyLimit

PASSWORD = "correct horse battery"


class Clock:
    """A settable clock shared by the app, the outbox and the tests."""

    def __init__(self, at: datetime | None = None) -> None:
        self.at = at or datetime(2026, 11, 27, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at


def office_settings(settings: Settings, **overrides: Any) -> Settings:
    """``settings`` with the back-office section tests use (``overrides`` are its fields)."""
    values: dict[str, Any] = {
        "cookie_secure": False,
        "session_secret": "test-session-secret-0123456789",
        **overrides,
    }
    return settings.model_copy(update={"backoffice": BackofficeSettings(**values)})


@asynccontextmanager
async def office_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    http: httpx.AsyncClient | None = None,
    run_jobs: bool = False,
    photo_reader: Any = None,
    **overrides: Any,
) -> AsyncIterator[FastAPI]:
    extension = BackofficeExtension(http=http, clock=clock, run_jobs=run_jobs)
    app = create_app(
        office_settings(settings, **overrides),
        migrate=False,
        extensions=[extension],
        run_outbox=False,
        photo_reader=photo_reader,
    )
    async with app.router.lifespan_context(app):
        if clock is not None:
            app.state.outbox.clock = clock
        yield app


def client_for(app: FastAPI, *, https: bool = False) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=BodyLimit(app, app.state.settings.chat.max_body_bytes))
    scheme = "https" if https else "http"
    return httpx.AsyncClient(transport=transport, base_url=f"{scheme}://weiquan.test")


async def make_staff(app: FastAPI, username: str, role: str, office: str | None = None) -> None:
    async with app.state.sessions() as session, session.begin():
        await add_staff(
            session,
            username=username,
            password=PASSWORD,
            role=role,
            now=datetime.now(UTC),
            office=office,
        )


async def token_for(client: httpx.AsyncClient, username: str) -> dict[str, str]:
    r = await client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def csrf_of(html: str) -> str:
    """The CSRF token of the first console form on a page."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found[1]


async def console_login(app: FastAPI, username: str) -> httpx.AsyncClient:
    """A console session for ``username``, signed in through the login form."""
    client = client_for(app)
    page = await client.get("/console/login")
    r = await client.post(
        "/console/login",
        data={"username": username, "password": PASSWORD, "csrf": csrf_of(page.text)},
    )
    assert r.status_code == 303, r.text
    return client


async def submit_case(
    app: FastAPI,
    *,
    kind: str = "complaint",
    at: datetime | None = None,
    channel: str = "telegram",
    sender: str = "4242",
    locale: str = "zh",
    fields: dict[str, Any] | None = None,
    personal: dict[str, Any] | None = None,
) -> str:
    """A case submitted the way the dialogue does it, on a conversation of ``channel``."""
    from sqlalchemy import select

    from bot.cases import Filer, submit
    from bot.db.models import Conversation
    from dialogues.actions import SubmitCase

    at = at or datetime(2026, 9, 29, 2, 0, tzinfo=UTC)
    if fields is None:
        fields = (
            {"product": "充电宝", "platform": "拼多多", "merchant": "数码配件小铺", "amount": 89}
            if kind == "complaint"
            else {
                "target_name": "假货仓库",
                "violation": "counterfeit",
                "identity": "real_name",
                "facts": "卖假茅台",
            }
        )
    if personal is None:
        personal = {"name": "赵六", "phone": "13512345678", "address": "杭州市西湖区文三路1号"}
    async with app.state.sessions() as session, session.begin():
        conversation = (
            await session.execute(
                select(Conversation).where(
                    Conversation.channel == channel, Conversation.sender_id == sender
                )
            )
        ).scalar_one_or_none()
        if conversation is None:
            conversation = Conversation(
                channel=channel,
                sender_id=sender,
                locale=locale,
                state={},
                created_at=at,
                updated_at=at,
            )
            session.add(conversation)
            await session.flush()
        filer = Filer(conversation.id, channel, sender, locale, at)
        action = SubmitCase(kind=kind, fields=fields, personal=personal)
        receipt = await session.run_sync(
            submit, filer, action, handoff=app.state.handoff, sellers=app.state.sellers
        )
    return receipt.case_no


class ChannelDouble:
    """Stands in for a channel adapter's outbox handler and records what reached the user."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []

    async def __call__(self, row: Any) -> None:
        self.received.append(dict(row.payload))

    @property
    def texts(self) -> list[str]:
        return [r["text"] for r in self.received]
