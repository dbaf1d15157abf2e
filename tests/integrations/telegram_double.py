"""A local Bot API double: a real HTTP server the real PTB ``Bot`` talks to via ``base_url``.

It records every call, serves files under ``base_file_url``, queues updates for
``getUpdates``, and fails chosen calls on demand (flood control, network, blocked user).
Runs uvicorn in its own thread so a slow or failing call never blocks the test's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.factories import png_bytes

if TYPE_CHECKING:
    from integrations.telegram import TelegramSettings

TOKEN = "123456789:TEST-double-token_abcdefghijklmnopqrs"
BOT_ID = 123456789
# Parameters PTB sends JSON-encoded (everything else arrives as a plain form string).
JSON_FIELDS = {"reply_markup", "allowed_updates", "chat_id", "offset", "timeout", "limit"}


@dataclass
class Call:
    method: str
    params: dict[str, Any]

    @property
    def text(self) -> str:
        return str(self.params.get("text", ""))

    @property
    def markup(self) -> dict[str, Any]:
        return dict(self.params.get("reply_markup") or {})

    @property
    def callback_data(self) -> list[str]:
        rows = self.markup.get("inline_keyboard", [])
        return [b["callback_data"] for row in rows for b in row]


@dataclass
class StoredDoubleFile:
    data: bytes
    path: str
    refuse_too_big: bool = False


@dataclass
class Failure:
    status: int
    body: dict[str, Any] | None


BLOCKED = Failure(
    403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}
)


@dataclass
class BotApiDouble:
    token: str = TOKEN
    calls: list[Call] = field(default_factory=list)
    files: dict[str, StoredDoubleFile] = field(default_factory=dict)
    updates: list[dict[str, Any]] = field(default_factory=list)
    failures: dict[str, list[Failure | None]] = field(default_factory=dict)
    # Chats whose user blocked the bot: every send to them answers 403.
    blocked_chats: set[int] = field(default_factory=set)
    # Messages Telegram accepted: (monotonic time, chat id, text).
    accepted: list[tuple[float, int, str]] = field(default_factory=list)
    port: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1000))

    # ---- what tests look at ------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    def of(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def sent(self, chat_id: int | None = None) -> list[Call]:
        return [
            c for c in self.of("sendMessage") if chat_id is None or c.params["chat_id"] == chat_id
        ]

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()

    async def wait_for(self, predicate: Callable[[], bool], within: float = 10.0) -> None:
        deadline = time.monotonic() + within
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; calls so far: {[c.method for c in self.calls]}")
            await asyncio.sleep(0.02)

    # ---- what tests arrange ------------------------------------------------------------
    def next_id(self) -> int:
        return next(self._ids)

    def add_file(self, data: bytes, *, refuse_too_big: bool = False) -> str:
        file_id = f"file-{self.next_id()}"
        self.files[file_id] = StoredDoubleFile(data, f"photos/{file_id}.bin", refuse_too_big)
        return file_id

    def queue_update(self, update: dict[str, Any]) -> None:
        with self._lock:
            self.updates.append(update)

    def fail_next(
        self,
        method: str,
        kind: str = "network",
        *,
        times: int = 1,
        after: int = 0,
        retry_after: int = 3,
    ) -> None:
        """Let ``after`` calls of ``method`` through, then fail ``times`` the way Telegram fails."""
        failure = {
            "network": Failure(502, None),
            "retry_after": Failure(
                429,
                {
                    "ok": False,
                    "error_code": 429,
                    "description": f"Too Many Requests: retry after {retry_after}",
                    "parameters": {"retry_after": retry_after},
                },
            ),
            "blocked": BLOCKED,
            "bad_request": Failure(
                400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
            ),
        }[kind]
        with self._lock:
            self.failures.setdefault(method, []).extend([None] * after + [failure] * times)

    # ---- the HTTP side -----------------------------------------------------------------
    async def _api(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return JSONResponse(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, 401
            )
        method = request.path_params["method"]
        form = await request.form()
        params: dict[str, Any] = {}
        for key, value in form.items():
            raw = value if isinstance(value, str) else ""
            params[key] = json.loads(raw) if key in JSON_FIELDS else raw
        with self._lock:
            self.calls.append(Call(method, params))
            queued = self.failures.get(method)
            failure = queued.pop(0) if queued else None
        if method == "sendMessage" and failure is None:
            with contextlib.suppress(KeyError, TypeError, ValueError):
                if int(params["chat_id"]) in self.blocked_chats:
                    failure = BLOCKED
        if failure is not None:
            if failure.body is None:
                return Response("bad gateway", status_code=failure.status)
            return JSONResponse(failure.body, status_code=failure.status)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return _ok(True)
        result: Response = await handler(params)
        return result

    async def _m_getMe(self, params: dict[str, Any]) -> Response:
        return _ok(
            {
                "id": BOT_ID,
                "is_bot": True,
                "first_name": "Weiquan",
                "username": "WeiquanTestBot",
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            }
        )

    async def _m_sendMessage(self, params: dict[str, Any]) -> Response:
        chat_id = int(params["chat_id"])
        with self._lock:
            self.accepted.append((time.monotonic(), chat_id, str(params.get("text", ""))))
        return _ok(
            {
                "message_id": self.next_id(),
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "Weiquan"},
                "text": params.get("text", ""),
            }
        )

    async def _m_getFile(self, params: dict[str, Any]) -> Response:
        stored = self.files.get(str(params.get("file_id")))
        if stored is None:
            return JSONResponse(
                {"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"}, 400
            )
        if stored.refuse_too_big:
            return JSONResponse(
                {"ok": False, "error_code": 400, "description": "Bad Request: file is too big"}, 400
            )
        return _ok(
            {
                "file_id": params["file_id"],
                "file_unique_id": params["file_id"] + "u",
                "file_size": len(stored.data),
                "file_path": stored.path,
            }
        )

    async def _m_getUpdates(self, params: dict[str, Any]) -> Response:
        offset = int(params.get("offset") or 0)
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), 0.5)
        while True:
            with self._lock:
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
                ready = list(self.updates)
            if ready or time.monotonic() >= deadline:
                return _ok(ready)
            await asyncio.sleep(0.02)

    async def _m_getWebhookInfo(self, params: dict[str, Any]) -> Response:
        hooks = self.of("setWebhook")
        url = hooks[-1].params.get("url", "") if hooks else ""
        allowed = hooks[-1].params.get("allowed_updates") if hooks else None
        return _ok(
            {
                "url": url,
                "has_custom_certificate": False,
                "pending_update_count": 0,
                "allowed_updates": allowed or [],
            }
        )

    async def _file(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return Response(status_code=401)
        path = request.path_params["path"]
        for stored in self.files.values():
            if stored.path == path:
                with self._lock:
                    self.calls.append(Call("download", {"path": path}))
                return Response(stored.data, media_type="application/octet-stream")
        return Response(status_code=404)

    def asgi(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/bot{token}/{method}", self._api, methods=["GET", "POST"]),
                Route("/file/bot{token}/{path:path}", self._file, methods=["GET"]),
            ]
        )


def _ok(result: Any) -> JSONResponse:
    return JSONResponse({"ok": True, "result": result})


@contextmanager
def running_double() -> Iterator[BotApiDouble]:
    """Start the double on a free port; stop it (and its thread) on exit."""
    double = BotApiDouble()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    double.port = sock.getsockname()[1]
    config = uvicorn.Config(
        double.asgi(),
        log_level="warning",
        lifespan="off",
        ws="none",
        http="h11",
        loop="asyncio",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the Bot API double did not start")
        time.sleep(0.01)
    try:
        yield double
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


class FakeUser:
    """A Telegram user in a private chat, producing real update shapes."""

    def __init__(
        self,
        double: BotApiDouble,
        user_id: int = 555001,
        *,
        language_code: str | None = "en",
        first_name: str = "Alex",
    ) -> None:
        self.double = double
        self.id = user_id
        self.user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if language_code:
            self.user["language_code"] = language_code
        self.chat: dict[str, Any] = {"id": user_id, "type": "private", "first_name": first_name}

    def _message(self, **content: Any) -> dict[str, Any]:
        return {
            "message_id": self.double.next_id(),
            "from": self.user,
            "chat": self.chat,
            "date": int(time.time()),
            **content,
        }

    def _update(self, key: str, value: dict[str, Any]) -> dict[str, Any]:
        return {"update_id": self.double.next_id(), key: value}

    def text(self, text: str) -> dict[str, Any]:
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            content["entities"] = [
                {"type": "bot_command", "offset": 0, "length": len(text.split()[0])}
            ]
        return self._update("message", self._message(**content))

    def photo(
        self,
        data: bytes,
        *,
        file_size: int | None = None,
        refuse_too_big: bool = False,
        caption: str | None = None,
    ) -> dict[str, Any]:
        """Three sizes like Telegram sends; only the largest carries ``data``."""
        small = self.double.add_file(b"thumbnail-bytes")
        large = self.double.add_file(data, refuse_too_big=refuse_too_big)
        sizes = [
            {
                "file_id": small,
                "file_unique_id": small + "u",
                "width": 90,
                "height": 90,
                "file_size": 15,
            },
            {
                "file_id": large,
                "file_unique_id": large + "u",
                "width": 1280,
                "height": 960,
                "file_size": file_size if file_size is not None else len(data),
            },
            {
                "file_id": small,
                "file_unique_id": small + "m",
                "width": 320,
                "height": 240,
                "file_size": 15,
            },
        ]
        content: dict[str, Any] = {"photo": sizes}
        if caption:
            content["caption"] = caption
        return self._update("message", self._message(**content))

    def document(
        self,
        data: bytes,
        *,
        file_name: str = "receipt.png",
        mime_type: str = "image/png",
        file_size: int | None = None,
    ) -> dict[str, Any]:
        file_id = self.double.add_file(data)
        return self._update(
            "message",
            self._message(
                document={
                    "file_id": file_id,
                    "file_unique_id": file_id + "u",
                    "file_name": file_name,
                    "mime_type": mime_type,
                    "file_size": file_size if file_size is not None else len(data),
                }
            ),
        )

    def contact(self, phone: str, *, own: bool = True) -> dict[str, Any]:
        contact: dict[str, Any] = {"phone_number": phone, "first_name": "Alex"}
        contact["user_id"] = self.id if own else self.id + 1
        return self._update("message", self._message(contact=contact))

    def location(self, latitude: float, longitude: float) -> dict[str, Any]:
        return self._update(
            "message", self._message(location={"latitude": latitude, "longitude": longitude})
        )

    def voice(self) -> dict[str, Any]:
        file_id = self.double.add_file(b"OggS-voice")
        return self._update(
            "message",
            self._message(
                voice={
                    "file_id": file_id,
                    "file_unique_id": file_id + "u",
                    "duration": 3,
                    "mime_type": "audio/ogg",
                }
            ),
        )

    def sticker(self) -> dict[str, Any]:
        return self._update(
            "message",
            self._message(
                sticker={
                    "file_id": "st",
                    "file_unique_id": "stu",
                    "type": "regular",
                    "width": 512,
                    "height": 512,
                    "is_animated": False,
                    "is_video": False,
                }
            ),
        )

    def callback(self, data: str) -> dict[str, Any]:
        message = {
            "message_id": self.double.next_id(),
            "date": int(time.time()),
            "chat": self.chat,
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "Weiquan"},
            "text": "…",
        }
        return self._update(
            "callback_query",
            {
                "id": f"cq-{self.double.next_id()}",
                "from": self.user,
                "chat_instance": "ci-1",
                "message": message,
                "data": data,
            },
        )

    def edited(self, text: str) -> dict[str, Any]:
        message = self._message(text=text)
        message["edit_date"] = int(time.time())
        return self._update("edited_message", message)

    def in_group(self, text: str) -> dict[str, Any]:
        group = {"id": -100777, "type": "supergroup", "title": "Shoppers"}
        return self._update(
            "message",
            {
                "message_id": self.double.next_id(),
                "from": self.user,
                "chat": group,
                "date": int(time.time()),
                "text": text,
            },
        )


SECRET = "s3cret-Token_for-tests"


class Harness:
    """The app with the Telegram extension pointed at the double, driven over its webhook."""

    def __init__(self, app: Any, double: BotApiDouble, http: Any) -> None:
        self.app = app
        self.double = double
        self.http = http

    async def post(self, update: dict[str, Any] | bytes, *, secret: str | None = SECRET) -> Any:
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
        if isinstance(update, bytes):
            return await self.http.post("/webhooks/telegram", content=update, headers=headers)
        return await self.http.post("/webhooks/telegram", json=update, headers=headers)

    async def deliver(self) -> int:
        """Run the outbox until nothing is due (what the dispatcher task does in production)."""
        total = 0
        while done := await self.app.state.outbox.run_once():
            total += done
        return total

    async def say(self, update: dict[str, Any]) -> list[Call]:
        """Post one update, deliver the replies, return the messages the user received."""
        before = len(self.double.sent())
        response = await self.post(update)
        assert response.status_code == 200, response.text
        await self.deliver()
        return self.double.sent()[before:]


def double_settings(double: BotApiDouble, **overrides: Any) -> TelegramSettings:
    """Telegram settings pointed at the double."""
    from integrations.telegram import TelegramSettings

    values: dict[str, Any] = {
        "token": double.token,
        "secret": SECRET,
        "base_url": double.base_url,
        "base_file_url": double.base_file_url,
        # A conversation in one chat is not held to Telegram's one message a second here (a
        # whole complaint would wait half a minute): the pace has its own tests, which pass
        # the production limits.
        "chat_max_rate": 1000.0,
        "chat_time_period": 1.0,
        **overrides,
    }
    return TelegramSettings(**values)


@asynccontextmanager
async def telegram_app(
    settings: Any, double: BotApiDouble, *, photo_reader: Any = None, **overrides: Any
) -> AsyncIterator[Harness]:
    import httpx

    from bot.app import create_app
    from integrations.telegram import TelegramExtension

    with_telegram = settings.model_copy(update={"telegram": double_settings(double, **overrides)})
    app = create_app(
        with_telegram,
        extensions=[TelegramExtension()],
        migrate=False,
        run_outbox=False,
        photo_reader=photo_reader,
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://weiquan.test") as http:
            yield Harness(app, double, http)


def joined(sent: list[Call]) -> str:
    return "\n".join(c.text for c in sent)


CASE_PREFIX = {"complaint": "TS", "report": "JB"}


def answer_for(user: FakeUser, step: Any) -> dict[str, Any]:
    """A valid answer for a one-message step of a flow, chosen by the step's type."""
    if step.skip_button:
        return user.callback("/skip")
    if step.shape in {"product", "brand", "merchant"}:
        return user.text("Acme Widget")
    match step.type:
        case "choice":
            return user.callback(step.choices[0])
        case "date":
            return user.text("2025-10-01")
        case "amount":
            return user.text("399")
        case "phone":
            return user.contact("+8613812345678")
        case "name":
            return user.text("Alex Smith")
        case "yesno":
            return user.callback("/yes")
    return user.text("A detailed enough answer, e.g. 12 Nanjing Road, Shanghai.")


async def file_case(
    say: Callable[[dict[str, Any]], Awaitable[list[Call]]],
    step_of: Callable[[], Awaitable[str | None]],
    user: FakeUser,
    flow: Any,
    photos: int = 2,
) -> str:
    """Walk any case flow to its confirmation, sending ``photos`` pictures; return the case no."""
    await say(user.callback(flow.start_payloads[0]))
    sent_photos = 0
    for _ in range(60):
        step = await step_of()
        if step == "confirm":
            break
        assert step and flow.has_step(step), f"unexpected step {step!r}"
        spec = flow.step(step)
        if spec.type == "multichoice":
            await say(user.callback(f"/choice:{spec.choices[0]}"))
            await say(user.callback("/done"))
        elif spec.type == "photos" and sent_photos < photos:
            await say(user.photo(png_bytes(30 + sent_photos)))
            sent_photos += 1
        elif spec.type == "photos":
            await say(user.text("/done"))
        else:
            await say(answer_for(user, spec))
    text = joined(await say(user.callback("/confirm")))
    prefix = CASE_PREFIX[flow.case_kind]
    assert prefix in text, text
    return text[text.index(prefix) :][:16]
