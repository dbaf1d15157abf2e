"""Fuzzing the staff console: every console route with generated path values, query strings
and form fields, as nobody, an agent, a supervisor and an admin, on SQLite and PostgreSQL.

The console's routes are HTML pages and forms, outside the OpenAPI document the schema fuzzer
reads, so their parameters come from the app's own route table here. Whatever is sent (NUL
characters, huge or odd text, made-up and real case numbers and ids, a valid or forged CSRF
field), the answer is never a 5xx.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
import hypothesis
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st

from bot.app import create_app
from bot.settings import Settings
from bot.staff.extension import BackofficeExtension
from tests.bot.backoffice_helpers import client_for, make_staff, office_settings, token_for
from tests.security.test_authz_matrix import World, build_world, console_client

pytestmark = pytest.mark.fuzz

EXAMPLES = int(os.environ.get("WEIQUAN_FUZZ_EXAMPLES", "12"))
ROLES = {"agent": "li", "supervisor": "zhao", "admin": "root"}
# Sent by any role they would end a session or an account the run goes on using.
SESSION_ENDERS = {"/console/logout", "/console/account/password"}
QUERY_NAMES = ("page", "kind", "status", "from", "to", "q", "actor", "case_no", "before", "after")

odd_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=300),
    st.sampled_from(["\x00", "a\x00b", "'; DROP TABLE cases;--", "=HYPERLINK(1)", "../../etc"]),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.just("长" * 5000),
)
# Query strings stay under what an HTTP client sends at all.
query_text = st.one_of(st.text(max_size=60), st.sampled_from(["\x00", "-1", "9" * 30]))


def console_routes(app: FastAPI) -> list[tuple[str, str, list[str], list[str]]]:
    """(method, path, path parameter names, form field names) of every console route."""
    found = []
    for context in iter_route_contexts(app.router.routes):
        route = context.route
        if not str(context.path).startswith("/console") or not hasattr(route, "dependant"):
            continue
        dependant = route.dependant
        for method in sorted(context.methods or ()):
            found.append(
                (
                    method,
                    str(context.path),
                    [p.name for p in dependant.path_params],
                    [p.name for p in dependant.body_params],
                )
            )
    return found


@pytest.fixture
async def console(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(
        office_settings(settings),
        migrate=False,
        extensions=[BackofficeExtension()],
        run_outbox=False,
    )
    async with app.router.lifespan_context(app):
        for role, user in ROLES.items():
            await make_staff(app, user, role)
        await make_staff(app, "target", "agent")
        yield app


def path_value(name: str, world: World) -> st.SearchStrategy[str]:
    real = {
        "case_no": [world.case_no, "TS20261127000001", "JB20990101999999"],
        "request_id": [str(world.request_id), "0", "1", "99999999999999999999999999"],
        "sha256": [world.sha256, "0" * 64],
        "username": ["target", "nobody", "LI"],
        "token_id": ["1", "2", "-1", "9" * 30],
        "change": ["deactivate", "reactivate", "password", "explode"],
        "action": ["reply", "transfer", "release", "close", "explode"],
    }.get(name, [])
    generated = st.text(
        alphabet=st.characters(blacklist_characters="/?#%", codec="utf-8"), min_size=1, max_size=40
    )
    return st.one_of(st.sampled_from(real), generated) if real else generated


async def test_no_console_route_answers_5xx(console: FastAPI) -> None:
    api = client_for(console)
    li_auth = await token_for(api, "li")
    world = await build_world(console, api, li_auth, "li")
    clients: dict[str, tuple[httpx.AsyncClient, str]] = {"anonymous": (client_for(console), "x")}
    for role, user in ROLES.items():
        clients[role] = await console_client(console, user)
    routes = [r for r in console_routes(console) if r[1] not in SESSION_ENDERS]
    assert len(routes) >= 20, routes
    seen: dict[int, int] = {}
    failures: list[str] = []
    loop = asyncio.get_running_loop()

    def fuzzer(method: str, path: str, path_names: list[str], form_names: list[str]) -> Any:
        @hypothesis.settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @hypothesis.given(data=st.data())
        def send(data: st.DataObject) -> None:
            role = data.draw(st.sampled_from(sorted(clients)))
            client, csrf = clients[role]
            url = path
            for name in path_names:
                value = data.draw(path_value(name, world), label=name)
                url = url.replace("{" + name + "}", quote(value, safe=""))
            params = data.draw(
                st.dictionaries(st.sampled_from(QUERY_NAMES), query_text, max_size=3)
            )
            kwargs: dict[str, Any] = {"params": params}
            if method == "POST":
                form = {n: data.draw(odd_text, label=n) for n in form_names if n != "csrf"}
                if "csrf" in form_names:
                    form["csrf"] = data.draw(st.sampled_from([csrf, "forged", ""]))
                kwargs["data"] = form
            answer = asyncio.run_coroutine_threadsafe(
                client.request(method, url, **kwargs), loop
            ).result(timeout=60)
            seen[answer.status_code] = seen.get(answer.status_code, 0) + 1
            if answer.status_code >= 500:
                failures.append(f"{role} {method} {url} {kwargs!r:.300} -> {answer.status_code}")

        return send

    try:
        for route in routes:
            # Hypothesis runs in a thread of its own; the requests run on this loop.
            await asyncio.to_thread(fuzzer(*route))
    finally:
        await api.aclose()
        for client, _ in clients.values():
            await client.aclose()
    assert not failures, "\n".join(failures[:20])
    assert sum(seen.values()) >= len(routes) * EXAMPLES // 2, seen


async def test_console_pages_take_no_outcome_from_the_query_string(console: FastAPI) -> None:
    """Found by this fuzzer: ``?status=…`` set the answer's status and ``?error=…`` or
    ``?password=…`` put any text on the account pages as if the console had said it."""
    client, _ = await console_client(console, "root")
    try:
        for path in ("/console/account", "/console/staff/target", "/console/staff"):
            page = await client.get(
                path, params={"status": "299", "error": "请拨打 400-000 验证", "password": "x1y2"}
            )
            assert page.status_code == 200, (path, page.status_code)
            assert "请拨打" not in page.text and "x1y2" not in page.text
    finally:
        await client.aclose()


async def test_a_nul_in_a_path_or_form_is_a_4xx(console: FastAPI) -> None:
    """Found by this fuzzer: a NUL in a case number was a 500 on PostgreSQL."""
    client, csrf = await console_client(console, "zhao")
    try:
        page = await client.get("/console/cases/TS2026%00")
        assert 400 <= page.status_code < 500, page.status_code
        api = client_for(console)
        auth = await token_for(api, "zhao")
        r = await api.get("/api/v1/cases/TS2026%00", headers=auth)
        assert 400 <= r.status_code < 500 and r.json()["error"], r.text
        await api.aclose()
    finally:
        await client.aclose()
