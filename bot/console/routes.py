"""Console pages: sign-in, the handover queue and the live conversation; ``install`` puts
the whole console on the app.

Case pages and the dashboard live in ``bot.console.pages``, what they all share in
``bot.console.common``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from bot.api.deps import AfterId, RowId, Runtime, client_ip, readers
from bot.business import clues
from bot.console import alerts, assists, ccc_risk, pages, typical_cases
from bot.console import session as cs
from bot.console.common import HERE, WORKERS, go, render
from bot.handover import staff as desk
from bot.staff import transcripts, views
from bot.staff.accounts import TooManyAttempts, check_login, revoke

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("/login")
async def login_page(request: Request, runtime: Runtime) -> HTMLResponse:
    value = cs.login_csrf_value(request)
    response = render(request, "login.html", None, error=None, login_csrf=value)
    cs.set_login_csrf(response, runtime, value)
    return response


@router.post("/login")
async def login(
    request: Request,
    runtime: Runtime,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    csrf: Annotated[str, Form(max_length=64)],
) -> Response:
    cs.check_login_csrf(request, csrf)
    s = runtime.settings.backoffice
    error = "用户名或密码错误"
    try:
        found = await check_login(
            runtime.sessions,
            username=username,
            password=password,
            ip=client_ip(request),
            now=runtime.now(),
            max_failures=s.login_max_failures,
            window=timedelta(minutes=s.login_window_minutes),
            kind="console",
            ttl=timedelta(minutes=s.token_ttl_minutes),
        )
    except TooManyAttempts:
        found, error = None, "登录失败次数过多，请稍后再试"
    if found is None:
        status = 401 if "错误" in error else 429
        return render(request, "login.html", None, status=status, error=error, login_csrf=csrf)
    staff, token = found
    response = go("/console/staff" if staff.role == "admin" else "/console/queue")
    cs.set_session(response, runtime, token)
    return response


@router.post("/logout")
async def logout(
    request: Request, runtime: Runtime, csrf: Annotated[str, Form(max_length=64)]
) -> Response:
    user = await cs.current(request, runtime)
    cs.check_csrf(user, csrf)
    async with runtime.sessions() as session, session.begin():
        await revoke(session, user.token)
    response = go("/console/login")
    cs.clear_session(response, runtime)
    return response


@router.get("")
@router.get("/")
async def home(request: Request, runtime: Runtime) -> Response:
    user = await cs.current(request, runtime)
    return go("/console/staff" if user.staff.role == "admin" else "/console/queue")


@router.get("/queue")
async def queue_page(request: Request, runtime: Runtime) -> HTMLResponse:
    """The hand-over queue and the office's open clue notices; an office's agent sees that
    office's conversations (and those not routed yet), supervisors choose an office."""
    user = await cs.current(request, runtime, *WORKERS)
    asked = request.query_params.get("office") or ""
    office = views.office_for(user.staff, asked if pages.OFFICE.match(asked) else None)
    async with readers(request, runtime)() as session:
        tickets = await desk.queue(session, office=office)
        notices = await clues.open_notices(session, office=None if office == "none" else office)
    now = runtime.now()
    rows = [
        {
            "id": tk.request.id,
            "status": tk.request.status,
            "reason": tk.request.reason,
            "detail": tk.request.detail,
            "taken_by": tk.request.taken_by,
            "channel": tk.conversation.channel,
            "waiting": int((now - tk.request.requested_at).total_seconds() // 60),
        }
        for tk in tickets
    ]
    return render(
        request,
        "queue.html",
        user,
        rows=rows,
        notices=notices,
        offices=pages.runtime_offices(request),
        scoped_to=user.staff.office if user.staff.role == "agent" else None,
        asked=office or "",
    )


@router.post("/clues/{notice_id}/{decision}")
async def clue_decision(
    request: Request,
    runtime: Runtime,
    notice_id: RowId,
    decision: str,
    csrf: Annotated[str, Form(max_length=64)],
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Acknowledge (taken up) or dismiss a clue notice; audited with who and why."""
    user = await cs.current(request, runtime, *WORKERS)
    cs.check_csrf(user, csrf)
    try:
        async with runtime.sessions() as session, session.begin():
            await clues.decide(
                session,
                notice_id,
                decision,
                staff=user.staff,
                now=runtime.now(),
                note=note.strip(),
                ip=client_ip(request),
            )
    except clues.NoticeError as exc:
        return render(request, "error.html", user, status=exc.status, message=exc.zh)
    return go("/console/queue")


async def _act(request: Request, runtime: Runtime, csrf: str, work: Any) -> cs.ConsoleUser:
    user = await cs.current(request, runtime, *WORKERS)
    cs.check_csrf(user, csrf)
    async with runtime.sessions() as session, session.begin():
        await work(session, user)
    runtime.wake_outbox()
    return user


def _queue_error(
    request: Request, user: cs.ConsoleUser | None, exc: desk.QueueError
) -> HTMLResponse:
    return render(request, "error.html", user, status=exc.status, message=str(exc))


@router.post("/queue/{request_id}/claim")
async def claim(
    request: Request, runtime: Runtime, request_id: RowId, csrf: Annotated[str, Form(max_length=64)]
) -> Response:
    try:
        await _act(
            request, runtime, csrf, lambda s, u: desk.claim(s, request_id, u.staff, runtime.now())
        )
    except desk.QueueError as exc:
        return _queue_error(request, None, exc)
    return go(f"/console/queue/{request_id}")


@router.post("/queue/{request_id}/{action}")
async def queue_action(
    request: Request,
    runtime: Runtime,
    request_id: RowId,
    action: str,
    csrf: Annotated[str, Form(max_length=64)],
    text: Annotated[str, Form(max_length=4000)] = "",
    to: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    now = runtime.now()
    works = {
        "reply": lambda s, u: desk.reply(s, request_id, u.staff, text.strip(), now),
        "transfer": lambda s, u: desk.transfer(s, request_id, u.staff, to.strip(), now),
        "release": lambda s, u: desk.release(s, request_id, u.staff, now),
        "close": lambda s, u: desk.close(s, request_id, u.staff, now),
    }
    if action not in works or (action == "reply" and not text.strip()):
        return JSONResponse({"error": "invalid_request"}, status_code=422)
    try:
        await _act(request, runtime, csrf, works[action])
    except desk.QueueError as exc:
        if action == "reply":
            return JSONResponse({"error": exc.code, "message": str(exc)}, status_code=exc.status)
        return _queue_error(request, None, exc)
    if action == "reply":
        return JSONResponse({"status": "queued"}, status_code=202)
    return go("/console/queue" if action != "transfer" else f"/console/queue/{request_id}")


@router.get("/queue/{request_id}")
async def conversation_page(request: Request, runtime: Runtime, request_id: RowId) -> HTMLResponse:
    """The live conversation; its transcript only for the holder (or a supervisor)."""
    user = await cs.current(request, runtime, *WORKERS)
    async with readers(request, runtime)() as session:
        try:
            tk = await desk.ticket(session, request_id)
        except desk.QueueError as exc:
            return _queue_error(request, user, exc)
        try:
            entries = await transcripts.read(session, tk, user.staff, now=runtime.now())
            readable = True
        except desk.QueueError:
            entries, readable = [], False
    return render(
        request,
        "conversation.html",
        user,
        ticket=tk.request,
        conversation=tk.conversation,
        entries=entries,
        readable=readable,
        mine=tk.request.status == "taken" and tk.request.taken_by == user.staff.username,
    )


@router.get("/queue/{request_id}/messages")
async def conversation_poll(
    request: Request, runtime: Runtime, request_id: RowId, after: AfterId = 0
) -> JSONResponse:
    """Polled by the page every few seconds: new messages, without reloading."""
    user = await cs.current(request, runtime, *WORKERS)
    async with readers(request, runtime)() as session:
        try:
            tk = await desk.ticket(session, request_id)
            entries = await transcripts.read(
                session, tk, user.staff, now=runtime.now(), after=max(0, after)
            )
        except desk.QueueError as exc:
            return JSONResponse({"error": exc.code}, status_code=exc.status)
    return JSONResponse(
        {"status": tk.request.status, "taken_by": tk.request.taken_by, "messages": entries},
        headers={"Cache-Control": "no-store"},
    )


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.include_router(pages.router)
    app.include_router(typical_cases.router)
    app.include_router(alerts.router)
    app.include_router(assists.router)
    app.include_router(ccc_risk.router)
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")

    @app.exception_handler(cs.NeedLogin)
    async def _login(request: Request, exc: cs.NeedLogin) -> Response:
        if request.url.path.endswith("/messages"):
            return JSONResponse({"error": "not_authenticated"}, status_code=401)
        return go("/console/login")

    @app.exception_handler(cs.Forbidden)
    async def _forbidden(request: Request, exc: cs.Forbidden) -> Response:
        return render(request, "error.html", None, status=403, message=str(exc))

    @app.exception_handler(cs.NotFound)
    async def _not_found(request: Request, exc: cs.NotFound) -> Response:
        return render(request, "error.html", exc.user, status=404, message=str(exc))
