"""Processing one WeChat message exactly once and answering inside WeChat's 5 seconds.

Every delivery of a message (WeChat retries after 5 s; proxies duplicate) joins the same
processing: one asyncio task per message of a sender in this worker, and the pipeline's
unique (channel, conversation, message id) across workers. A delivery waits up to the passive budget; if the
answer is not ready then, an account with the customer-service API answers ``success``
and the replies follow through the outbox, while one without it leaves this delivery
unanswered so that WeChat's retry (same MsgId) picks up the finished reply.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx

from bot.channels import ChannelStore
from bot.evidence import EvidenceStore, NotAnImage, StoredFile
from bot.messages import InboundMessage
from bot.outbox import Key, lane_of
from dialogues.model import Reply
from integrations.wechat import render
from integrations.wechat.api import ApiError, WechatApi
from integrations.wechat.inbound import Incoming
from integrations.wechat.settings import WechatSettings

log = logging.getLogger(__name__)
CHANNEL = "wechat"
TOPIC = "reply:wechat"
KEEP_FINISHED_SECONDS = 60.0  # WeChat's three retries come within ~15 s


def _key(incoming: Incoming) -> str:
    """One message of one sender (a MsgId alone is not proven to be only this sender's)."""
    key = f"{incoming.sender_id}:{incoming.message_id}"
    return key if len(key) <= 96 else hashlib.sha256(key.encode()).hexdigest()


def _outbox_key(incoming: Incoming, part: int) -> Key:
    """Part ``part`` of the replies to one message of one sender, queued for later."""
    return Key(incoming.sender_id, f"msg.{incoming.message_id}", part)


class HandlesMessages(Protocol):
    async def handle(self, message: InboundMessage) -> Any: ...


@dataclass
class Answer:
    """What one delivery sends back: a passive text, ``success``, or nothing (503)."""

    text: str | None = None
    retry: bool = False  # no answer: WeChat should deliver again


@dataclass(frozen=True)
class _Result:
    replies: list[Reply]
    duplicate: bool


@dataclass
class _Job:
    task: asyncio.Task[_Result]
    deferred: bool = False
    followers: list[asyncio.Task[None]] = field(default_factory=list)


class WechatChannel:
    def __init__(
        self,
        settings: WechatSettings,
        channels: ChannelStore,
        evidence: EvidenceStore,
        api: WechatApi | None,
        *,
        http: httpx.AsyncClient | None = None,
        wake_outbox: Callable[[], None] = lambda: None,
        max_photo_bytes: int = 10 * 1024 * 1024,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.channels = channels
        self.evidence = evidence
        self.api = api
        self.http = http
        self.wake_outbox = wake_outbox
        self.max_photo_bytes = max_photo_bytes
        self.clock = clock
        self.jobs: dict[str, _Job] = {}
        self.background: set[asyncio.Task[Any]] = set()

    @property
    def customer_service(self) -> bool:
        return self.settings.customer_service and self.api is not None

    # ---- one delivery ------------------------------------------------------------------
    async def answer(self, incoming: Incoming, pipeline: HandlesMessages, started: float) -> Answer:
        """Join (or start) the processing of ``incoming`` and answer within the budget."""
        if incoming.kind == "silent":
            return Answer("")
        job = self.jobs.get(_key(incoming))
        if job is None:
            job = self._start(incoming, pipeline)
        if job.deferred:
            return Answer("")
        budget = self.settings.passive_budget_seconds - (time.monotonic() - started)
        try:
            result = await asyncio.wait_for(asyncio.shield(job.task), timeout=max(0.0, budget))
        except TimeoutError:
            if self.customer_service:
                self._defer(incoming, job)
                return Answer("")
            hold = self.settings.retry_hold_seconds - (time.monotonic() - started)
            try:
                result = await asyncio.wait_for(asyncio.shield(job.task), timeout=max(0.0, hold))
            except TimeoutError:
                log.info(
                    "wechat %s still processing; leaving it to WeChat's retry", incoming.message_id
                )
                return Answer(retry=True)
        except Exception:
            log.exception("wechat %s could not be processed", incoming.message_id)
            return Answer(retry=True)
        if job.deferred or (result.duplicate and await self._was_deferred(incoming)):
            return Answer("")
        return await self._passive(incoming, result.replies)

    def _start(self, incoming: Incoming, pipeline: HandlesMessages) -> _Job:
        task = asyncio.create_task(
            self._process(incoming, pipeline), name=f"wechat:{incoming.message_id}"
        )
        job = _Job(task)
        self.jobs[_key(incoming)] = job

        def finished(done: asyncio.Task[_Result]) -> None:
            if done.cancelled() or done.exception() is not None:
                # Let a later delivery try again from scratch.
                self.jobs.pop(_key(incoming), None)
                return
            loop = asyncio.get_running_loop()
            loop.call_later(KEEP_FINISHED_SECONDS, self._forget, _key(incoming), job)

        task.add_done_callback(finished)
        return job

    def _forget(self, key: str, job: _Job) -> None:
        if self.jobs.get(key) is job:
            del self.jobs[key]

    # ---- processing (once per message) -------------------------------------------------
    async def _process(self, incoming: Incoming, pipeline: HandlesMessages) -> _Result:
        payload = incoming.payload
        if incoming.kind == "text" and payload is None:
            payload = render.resolve(
                incoming.text, incoming.menu_id, await self.last_replies(incoming)
            )
        stored: StoredFile | None = None
        if incoming.kind == "photo":
            stored = await self._photo(incoming)
        message = InboundMessage(
            channel=CHANNEL,
            channel_message_id=incoming.message_id,
            sender_id=incoming.sender_id,
            address=incoming.openid,
            kind="button" if payload and incoming.kind in {"text", "button"} else incoming.kind,
            text="" if payload else incoming.text,
            payload=payload,
            received_at=incoming.created,
            file=stored,
            inline=True,
        )
        handled = await pipeline.handle(message)
        return _Result(list(handled.replies), bool(handled.duplicate))

    async def last_replies(self, incoming: Incoming) -> list[Reply]:
        """The replies to this user's latest message: the buttons they can answer with (the
        conversation may still be stored under the clear openid, until keys are rotated)."""
        return await self.channels.last_replies(CHANNEL, [incoming.sender_id, incoming.openid])

    async def _photo(self, incoming: Incoming) -> StoredFile | None:
        """Fetch the original now (temporary media expire after 3 days) and store it."""
        sources: list[Callable[[], Awaitable[bytes]]] = []
        if self.api is not None and incoming.media_id:
            sources.append(lambda: self.api.download_media(incoming.media_id or ""))  # type: ignore[union-attr]
        if incoming.pic_url:
            pic_url = self.allowed_pic_url(incoming.pic_url)
            if pic_url is not None:
                sources.append(lambda: self._fetch_url(pic_url))
            else:
                log.warning(
                    "wechat photo %s: PicUrl host not allowed (WEIQUAN_WECHAT_PIC_HOSTS), "
                    "not fetched",
                    incoming.message_id,
                )
        for source in sources:
            try:
                data = await source()
            except (ApiError, OSError) as exc:
                log.warning("wechat photo %s: download failed: %s", incoming.message_id, exc)
                continue
            if not data or len(data) > self.max_photo_bytes:
                log.warning("wechat photo %s: %s bytes refused", incoming.message_id, len(data))
                continue
            try:
                return await self.evidence.save_image(
                    data, filename=f"wechat-{incoming.message_id}"
                )
            except NotAnImage as exc:
                log.warning("wechat photo %s is not an image (%s)", incoming.message_id, exc)
        return None

    def allowed_pic_url(self, url: str) -> httpx.URL | None:
        """The URL to fetch if it is on WeChat's image hosts, else None: any other PicUrl would
        make us fetch what a sender names (internal services, metadata endpoints).

        Parsed by httpx, the parser that makes the request, so no parser disagreement can
        smuggle another host past the check."""
        try:
            parsed = httpx.URL(url.strip())
        except (httpx.InvalidURL, TypeError, ValueError):
            return None
        host = parsed.host.lower().rstrip(".")
        if parsed.scheme not in {"http", "https"} or parsed.userinfo:
            return None
        return parsed if host in self.settings.pic_host_set else None

    async def _fetch_url(self, url: httpx.URL) -> bytes:
        if self.http is None:
            raise ApiError(None, "no HTTP client for PicUrl")
        try:
            # No redirects: a hop could lead off the allowed hosts.
            async with self.http.stream("GET", url, follow_redirects=False) as response:
                if response.status_code != 200:
                    raise ApiError(None, f"PicUrl answered {response.status_code}")
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > self.max_photo_bytes:
                        break
                return bytes(data)
        except httpx.HTTPError as exc:
            raise ApiError(None, f"PicUrl: {type(exc).__name__}") from None

    # ---- answering ---------------------------------------------------------------------
    async def _passive(self, incoming: Incoming, replies: list[Reply]) -> Answer:
        if not replies:
            return Answer("")  # a person has the conversation, or nothing to say
        limit = self.settings.max_reply_bytes
        text = render.render(replies)
        if len(text.encode("utf-8")) <= limit:
            return Answer(text)
        if not self.customer_service:
            return Answer(render.shorten(text, limit))
        # Too long for one passive reply: the first part now, the rest as follow-ups.
        chunks = [c for t in render.render_each(replies) for c in render.split(t, limit)]
        first, rest = _pack_first(chunks, limit)
        await self.enqueue(incoming, rest, start=len(first), delay=1.0)
        return Answer("\n\n".join(first))

    def _defer(self, incoming: Incoming, job: _Job) -> None:
        job.deferred = True

        async def follow() -> None:
            try:
                replies = (await asyncio.shield(job.task)).replies
            except Exception:
                log.exception("wechat %s failed after answering success", incoming.message_id)
                return
            limit = self.settings.max_reply_bytes
            chunks = [c for t in render.render_each(replies) for c in render.split(t, limit)]
            await self.enqueue(incoming, chunks)

        self.spawn(follow())

    def spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def enqueue(
        self, incoming: Incoming, texts: list[str], *, start: int = 0, delay: float = 0.0
    ) -> None:
        """Outbox rows for the customer-service sender; keys make a repeat a no-op."""
        if not texts:
            return
        keys = [_outbox_key(incoming, start + i) for i in range(len(texts))]
        rendered = [
            # The payload is encrypted; the recipient is opened from it at delivery.
            {
                "recipient_id": incoming.openid,
                "text": text,
                "buttons": [],
                "custom": {"rendered": True},
            }
            for text in texts
        ]
        now = self.clock()
        queued = await self.channels.queue_once(
            topic=TOPIC,
            items=list(zip(keys, rendered, strict=True)),
            due=now + timedelta(seconds=delay),
            now=now,
            lane=lane_of(CHANNEL, incoming.sender_id),
        )
        if queued < len(keys):
            log.info(
                "wechat %s: follow-ups already queued by a concurrent delivery", incoming.message_id
            )
        self.wake_outbox()

    async def _was_deferred(self, incoming: Incoming) -> bool:
        """Another worker answered ``success`` for this message and queued the replies."""
        return await self.channels.is_queued(TOPIC, _outbox_key(incoming, 0))

    async def drain(self, grace_seconds: float = 10.0) -> None:
        """On shutdown: let running work finish (it holds user messages), then stop."""
        pending = {job.task for job in self.jobs.values() if not job.task.done()} | self.background
        if pending:
            done, still = await asyncio.wait(pending, timeout=grace_seconds)
            for task in still:
                task.cancel()


def _pack_first(chunks: list[str], limit: int) -> tuple[list[str], list[str]]:
    """As many whole chunks as fit one passive reply (at least one), and the rest."""
    first: list[str] = []
    size = 0
    for index, chunk in enumerate(chunks):
        extra = len(chunk.encode("utf-8")) + (2 if first else 0)
        if first and size + extra > limit:
            return first, chunks[index:]
        first.append(chunk)
        size += extra
    return first, []
