"""``POST /webhooks/telegram``: verify the secret header, parse with PTB, hand over, answer fast."""

from __future__ import annotations

import hmac
import json
import logging
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Header, Request
from fastapi.responses import JSONResponse, Response
from telegram import Update

from bot.web.errors import error_body
from integrations.telegram.adapter import TemporaryFailure, Unreadable
from integrations.telegram.runtime import TelegramRuntime

log = logging.getLogger(__name__)
router = APIRouter(tags=["telegram channel"])
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status)


@router.post("/webhooks/telegram", include_in_schema=False)
async def telegram_webhook(
    request: Request,
    background: BackgroundTasks,
    secret: Annotated[str | None, Header(alias=SECRET_HEADER)] = None,
) -> Response:
    runtime: TelegramRuntime | None = getattr(request.app.state, "telegram", None)
    expected = runtime.secret if runtime is not None else None
    # Without a configured secret nothing is accepted: anyone could forge updates.
    if (
        not expected
        or secret is None
        or not hmac.compare_digest(secret.encode(), expected.encode())
    ):
        return _error(403, "forbidden", "Missing or wrong secret token.")
    assert runtime is not None  # noqa: S101 - a secret implies a runtime
    try:
        data = json.loads(await request.body())
    except (UnicodeDecodeError, json.JSONDecodeError):
        return _error(400, "invalid_json", "The body is not valid JSON.")
    try:
        update = Update.de_json(data, runtime.bot) if isinstance(data, dict) else None
    except Exception:  # PTB raises TypeError/KeyError/ValueError… on foreign shapes
        update = None
    if update is None or not isinstance(update.update_id, int):
        return _error(400, "invalid_update", "The body is not a Telegram update.")
    try:
        received = await runtime.receiver.receive(update)
    except Unreadable as exc:
        log.info("telegram update %s refused: %s", update.update_id, exc)
        return _error(400, "invalid_update", "The update lacks fields a message needs.")
    except TemporaryFailure as exc:
        log.warning("telegram update %s deferred: %s", update.update_id, exc)
        return _error(503, "try_again", "Could not process the update now; send it again.")
    except Exception:
        # Telegram redelivers on any non-2xx; the pipeline deduplicates when it does.
        log.exception("telegram update %s failed", update.update_id)
        return _error(503, "try_again", "Could not process the update now; send it again.")
    if received.answer_callback:
        background.add_task(runtime.receiver.answer, received.answer_callback)
    return Response(status_code=200)
