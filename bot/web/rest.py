"""The REST channel (Rasa's convention): verify nothing, parse, hand to the pipeline."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from bot.evidence import EvidenceStore, NotAnImage
from bot.messages import InboundMessage
from bot.pipeline import Handled, Pipeline
from bot.settings import Settings
from bot.web.errors import ApiError

router = APIRouter(prefix="/webhooks/rest", tags=["rest channel"])
CHANNEL = "rest"


class RestMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sender: str = Field(min_length=1, max_length=128, description="The user's stable id")
    message: str = Field(description="Text, or a button's payload")
    message_id: str | None = Field(default=None, min_length=1, max_length=128)
    locale: str | None = Field(default=None, max_length=16, description="e.g. zh-CN, en")


class ButtonOut(BaseModel):
    title: str
    payload: str


class ReplyOut(BaseModel):
    recipient_id: str
    text: str
    buttons: list[ButtonOut] = []
    custom: dict[str, Any] = {}


async def get_pipeline(request: Request) -> Pipeline:
    pipeline: Pipeline = request.app.state.pipeline
    return pipeline


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_evidence(request: Request) -> EvidenceStore:
    store: EvidenceStore = request.app.state.evidence
    return store


def _out(sender: str, handled: Handled) -> Response:
    """The replies in the documented shape (``ReplyOut``), encoded once without re-validation."""
    body = [{"recipient_id": sender, **r.as_dict()} for r in handled.replies]
    return Response(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        media_type="application/json",
    )


def client_address(request: Request) -> str | None:
    """The peer address as uvicorn reports it: behind a proxy, the forwarded client address
    only when uvicorn trusts that proxy (``--forwarded-allow-ips``), else the proxy's own."""
    return request.client.host if request.client else None


@router.post("/webhook", response_model=list[ReplyOut])
async def webhook(
    request: Request,
    body: RestMessage,
    pipeline: Annotated[Pipeline, Depends(get_pipeline)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> Response:
    if len(body.message) > settings.chat.max_text_chars:
        raise ApiError(
            422,
            "text_too_long",
            f"A message may have at most {settings.chat.max_text_chars} characters.",
        )
    text = body.message.strip()
    is_payload = text.startswith("/") and " " not in text and len(text) <= 64
    message = InboundMessage(
        channel=CHANNEL,
        channel_message_id=body.message_id or uuid.uuid4().hex,
        sender_id=body.sender,
        kind="text",
        text="" if is_payload else body.message,
        payload=text if is_payload else None,
        locale=body.locale,
        client_address=client_address(request),
    )
    return _out(body.sender, await pipeline.handle(message))


@router.post("/upload", response_model=list[ReplyOut])
async def upload(
    request: Request,
    sender: Annotated[str, Form(min_length=1, max_length=128)],
    file: Annotated[UploadFile, File()],
    pipeline: Annotated[Pipeline, Depends(get_pipeline)],
    settings: Annotated[Settings, Depends(get_settings)],
    store: Annotated[EvidenceStore, Depends(get_evidence)],
    message_id: Annotated[str | None, Form(min_length=1, max_length=128)] = None,
    locale: Annotated[str | None, Form(max_length=16)] = None,
) -> Response:
    data = await file.read(settings.chat.max_upload_bytes + 1)
    if len(data) > settings.chat.max_upload_bytes:
        raise ApiError(
            413,
            "file_too_large",
            f"A photo may be at most {settings.chat.max_upload_bytes // (1024 * 1024)} MB.",
        )
    if not data:
        raise ApiError(422, "empty_file", "The file is empty.")
    try:
        stored = await store.save_image(data, filename=file.filename)
    except NotAnImage as exc:
        raise ApiError(
            415,
            "not_an_image",
            "Only photos (JPEG, PNG, GIF, WebP, BMP, HEIC) can be sent.",
            detected=str(exc),
        ) from None
    message = InboundMessage(
        channel=CHANNEL,
        channel_message_id=message_id or uuid.uuid4().hex,
        sender_id=sender,
        kind="photo",
        file=stored,
        locale=locale,
        client_address=client_address(request),
    )
    return _out(sender, await pipeline.handle(message))
