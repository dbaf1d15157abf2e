"""Console pages for one's own account, an admin's view of a person, and the audit log.

Everyone: ``/console/account`` (change password, see and end one's sessions). Admins:
``/console/staff/{username}`` (deactivate, reactivate, reset the password, end sessions).
Supervisors and admins: ``/console/audit``. Every form carries the session's CSRF token.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from bot.api.deps import RowId, Runtime, client_ip, readers
from bot.console import session as cs
from bot.console.common import go, render
from bot.staff import audit, lifecycle
from bot.staff.accounts import token_id_for
from bot.staff.passwords import WeakPassword

router = APIRouter(prefix="/console", include_in_schema=False)
AUDITORS = ("supervisor", "admin")
PAGE = 50
ACTIONS = {
    "login": "登录",
    "login_failed": "登录失败",
    "token_issued": "签发令牌",
    "token_revoked": "撤销令牌",
    "account_created": "新建账号",
    "account_deactivated": "停用账号",
    "account_reactivated": "启用账号",
    "password_changed": "修改密码",
    "password_reset": "重置密码",
    "view_personal": "查看个人信息",
    "reveal_reporter": "查看举报人身份",
    "verify_report_password": "核对举报密码",
    "transcript_read": "查看对话记录",
    "evidence_download": "下载证据",
    "cli_case_show": "命令行查看案件",
    "cli_cases_export": "命令行导出案件",
    "typical_case_published": "发布典型案例",
    "typical_case_withdrawn": "撤下典型案例",
    "alert_published": "发布消费预警",
    "ccc_risk_exported": "导出3C风险反馈",
}


async def _sessions(
    request: Request, runtime: Runtime, username: str, current: str
) -> list[dict[str, object]]:
    """A person's live sessions, read in a snapshot (pages take no write lock)."""
    async with readers(request, runtime)() as session:
        user = await lifecycle.find_user(session, username)
        mine = await token_id_for(session, current)
        return [
            lifecycle.token_dict(t, current=mine)
            for t in await lifecycle.live_tokens(session, user, now=runtime.now())
        ]


@router.get("/account")
async def account_page(request: Request, runtime: Runtime) -> HTMLResponse:
    return await _account_view(request, runtime)


async def _account_view(
    request: Request,
    runtime: Runtime,
    *,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    """The account page with a form's outcome; never from the query string (no reflected text)."""
    user = await cs.current(request, runtime)
    tokens = await _sessions(request, runtime, user.staff.username, user.token)
    return render(
        request,
        "account.html",
        user,
        status=status,
        tokens=tokens,
        error=error,
        notice=notice,
    )


@router.post("/account/password")
async def account_password(
    request: Request,
    runtime: Runtime,
    csrf: Annotated[str, Form(max_length=64)],
    current: Annotated[str, Form(max_length=256)],
    new: Annotated[str, Form(max_length=256)],
    confirm: Annotated[str, Form(max_length=256)],
) -> Response:
    """Change one's own password; this session stays signed in, every other one ends."""
    user = await cs.current(request, runtime)
    cs.check_csrf(user, csrf)
    if new != confirm:
        return await _account_view(request, runtime, error="两次输入的新密码不一致", status=422)
    try:
        async with runtime.sessions() as session, session.begin():
            await lifecycle.change_password(
                session,
                staff=user.staff,
                current=current,
                new=new,
                now=runtime.now(),
                keep=await token_id_for(session, user.token),
                ip=client_ip(request),
            )
    except lifecycle.WrongPassword:
        return await _account_view(request, runtime, error="当前密码不正确", status=403)
    except WeakPassword:
        return await _account_view(request, runtime, error="新密码至少需要 10 个字符", status=422)
    return await _account_view(request, runtime, notice="密码已修改，其他会话已退出")


@router.post("/staff/{username}/tokens/{token_id}/revoke")
async def revoke_one(
    request: Request,
    runtime: Runtime,
    username: str,
    token_id: RowId,
    csrf: Annotated[str, Form(max_length=64)],
) -> Response:
    return await _revoke(request, runtime, username, token_id, csrf)


@router.post("/staff/{username}/tokens/revoke")
async def revoke_all(
    request: Request, runtime: Runtime, username: str, csrf: Annotated[str, Form(max_length=64)]
) -> Response:
    """End every session of ``username`` (one's own: all but this one)."""
    return await _revoke(request, runtime, username, None, csrf)


async def _revoke(
    request: Request, runtime: Runtime, username: str, token_id: int | None, csrf: str
) -> Response:
    user = await cs.current(request, runtime)
    cs.check_csrf(user, csrf)
    if not lifecycle.may_manage(user.staff, username):
        raise cs.Forbidden("只有管理员可以管理他人的账号")
    own = username == user.staff.username
    try:
        async with runtime.sessions() as session, session.begin():
            await lifecycle.revoke_tokens(
                session,
                actor=user.staff.actor,
                username=username,
                now=runtime.now(),
                token_id=token_id,
                keep=await token_id_for(session, user.token) if own else None,
                ip=client_ip(request),
            )
    except lifecycle.NotFound as exc:
        return render(request, "error.html", user, status=404, message=str(exc))
    return go("/console/account" if own else f"/console/staff/{username}")


@router.get("/staff/{username}")
async def person_page(request: Request, runtime: Runtime, username: str) -> HTMLResponse:
    return await _person_view(request, runtime, username)


async def _person_view(
    request: Request,
    runtime: Runtime,
    username: str,
    *,
    error: str | None = None,
    password: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    """An account's page with a change's outcome (a generated password is shown only here)."""
    user = await cs.current(request, runtime, "admin")
    async with readers(request, runtime)() as session:
        try:
            person = await lifecycle.find_user(session, username)
        except lifecycle.NotFound:
            return render(request, "error.html", user, status=404, message=f"没有账号 {username}")
    tokens = await _sessions(request, runtime, username, user.token)
    return render(
        request,
        "person.html",
        user,
        status=status,
        person=person,
        tokens=tokens,
        error=error,
        password=password,
    )


@router.post("/staff/{username}/{change}")
async def person_change(
    request: Request,
    runtime: Runtime,
    username: str,
    change: str,
    csrf: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    """Deactivate, reactivate or reset the password of an account (admins)."""
    user = await cs.current(request, runtime, "admin")
    cs.check_csrf(user, csrf)
    if change not in ("deactivate", "reactivate", "password"):
        return render(request, "error.html", user, status=404, message="没有这个操作")
    shown: str | None = None
    try:
        async with runtime.sessions() as session, session.begin():
            if change == "password":
                chosen = password or None
                new = await lifecycle.reset_password(
                    session,
                    actor=user.staff.actor,
                    username=username,
                    now=runtime.now(),
                    new=chosen,
                    ip=client_ip(request),
                )
                shown = None if chosen else new
            else:
                await lifecycle.set_active(
                    session,
                    actor=user.staff.actor,
                    username=username,
                    active=change == "reactivate",
                    now=runtime.now(),
                    ip=client_ip(request),
                )
    except lifecycle.NotFound:
        return render(request, "error.html", user, status=404, message=f"没有账号 {username}")
    except lifecycle.NotAllowed:
        return await _person_view(
            request, runtime, username, error="不能停用自己的账号，请另一位管理员操作", status=403
        )
    except WeakPassword:
        return await _person_view(
            request, runtime, username, error="密码至少需要 10 个字符", status=422
        )
    if change == "password":
        # The generated password is in this response only (no-store); it is never stored.
        return await _person_view(request, runtime, username, password=shown or "")
    return go(f"/console/staff/{username}")


@router.get("/audit")
async def audit_page(request: Request, runtime: Runtime) -> HTMLResponse:
    """The audit log, newest first, filtered by person and by case, ``PAGE`` rows a page."""
    user = await cs.current(request, runtime, *AUDITORS)
    q = request.query_params
    actor = (q.get("actor") or "").strip()[:64]
    case_no = (q.get("case_no") or "").strip()[:32]
    before_text = q.get("before") or ""
    before = int(before_text) if before_text.isdigit() and len(before_text) < 19 else None
    async with readers(request, runtime)() as session:
        rows = await audit.search(
            session, actor=actor or None, case_no=case_no or None, before=before, limit=PAGE
        )
    return render(
        request,
        "audit.html",
        user,
        rows=[audit.as_dict(r) for r in rows],
        actions=ACTIONS,
        filters={"actor": actor, "case_no": case_no},
        next_before=rows[-1].id if len(rows) == PAGE else None,
        first=before is None,
    )
