"""The ceiling for the chat benchmark: a bare FastAPI endpoint with the REST channel's shape.

It validates the same body, returns the same reply shape and drives the same conversation
(the next awaited slot follows from the answer just sent), but touches no database and runs
no dialogue engine, so the difference to the real app is the app's own cost.
Run as ``uvicorn bare_app:app --app-dir benchmarks``; chat_load.py starts it itself.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

from chat_load import SCRIPT
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

# The answer to one slot is the cue for the next: the app stays stateless across workers.
NEXT = {"/complaint": SCRIPT[0][0]} | {
    answer: SCRIPT[i + 1][0] for i, (_, answer) in enumerate(SCRIPT[:-1])
}
FINAL = SCRIPT[-1][1]
SEQUENCE = itertools.count(1)

app = FastAPI()


class RestMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sender: str = Field(min_length=1, max_length=128)
    message: str
    message_id: str | None = Field(default=None, min_length=1, max_length=128)
    locale: str | None = Field(default=None, max_length=16)


class ButtonOut(BaseModel):
    title: str
    payload: str


class ReplyOut(BaseModel):
    recipient_id: str
    text: str
    buttons: list[ButtonOut] = []
    custom: dict[str, Any] = {}


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/webhooks/rest/webhook", response_model=list[ReplyOut])
async def webhook(body: RestMessage) -> list[ReplyOut]:
    if body.message == FINAL:
        # Unique across workers: the process id stands in for the date part.
        number = f"TS2026{os.getpid() % 10000:04d}{next(SEQUENCE) % 1_000_000:06d}"
        custom = {"flow": None, "awaiting": None, "case_no": number}
    else:
        custom = {"flow": "complaint", "awaiting": NEXT.get(body.message), "case_no": None}
    return [
        ReplyOut(
            recipient_id=body.sender,
            text="收到。下一个问题是什么？",
            buttons=[ButtonOut(title="取消", payload="/cancel")],
            custom=custom,
        )
    ]
