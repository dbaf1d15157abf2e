"""Consumer alerts (消费预警): subscriptions kept per sender, alerts staff publish, and the
fan-out that sends each alert once to everyone it concerns.

A subscription is keyed by the conversation's channel and stored sender id (a keyed hash on
WeChat and Telegram, ``bot/senders.py``); its topic (a category, a brand, a region) is not
personal. An alert reaches the subscribers of its category, brands and regions, and the
senders whose earlier cases name one of its brands or certificate numbers. Staff see how many
it reached, never who.

The fan-out is paced and restart-safe: it goes through the recipients in batches of one
transaction each, and in that transaction records the recipient (``alert_deliveries``, one
row per alert and recipient) and queues the message (``bot.staff.push``: an outbox row keyed
``alert.<id>`` for that recipient, and the transcript). A fan-out stopped half-way and run
again skips the recorded recipients, so nobody gets an alert twice. Failed deliveries are
the outbox's: a recipient the platform refuses is marked failed (``GiveUp``), any other
failure is retried up to the dispatcher's ``max_attempts`` and then marked failed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot import consents, outbox
from bot.cases import Filer
from bot.db.base import Base, UTCDateTime
from bot.db.dialect import upsert_into
from bot.db.engine import read_only
from bot.db.models import BigId, Case, Conversation, OutboxMessage
from bot.knowledge import cases as typical_cases
from bot.staff.push import Push, push_all
from dialogues.actions import (
    ConsentToAlerts,
    ListSubscriptions,
    Subscribe,
    Subscriptions,
    Topic,
    Unsubscribe,
)
from dialogues.subscriptions import MAX_SUBSCRIPTIONS, catalogue
from dialogues.texts import t

log = logging.getLogger(__name__)
# Recipients per fan-out transaction.
BATCH = 500


class AlertSubscription(Base):
    """One sender's subscription to alerts about one topic."""

    __tablename__ = "alert_subscriptions"
    __table_args__ = (
        UniqueConstraint("channel", "sender_id", "kind", "value", name="uq_alert_subscriptions"),
        Index("ix_alert_subscriptions_topic", "kind", "value"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    sender_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))  # category | brand | region
    value: Mapped[str] = mapped_column(String(60))
    # The language the subscriber chatted in when subscribing: their alerts come in it.
    lang: Mapped[str] = mapped_column(String(8), default="zh")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AlertRow(Base):
    """A published alert; ``finished_at`` is set once its fan-out went through everyone."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    category: Mapped[str] = mapped_column(String(16))
    title_zh: Mapped[str] = mapped_column(String(60))
    title_en: Mapped[str] = mapped_column(String(160))
    text_zh: Mapped[str] = mapped_column(Text)
    text_en: Mapped[str] = mapped_column(Text)
    brands: Mapped[list[str]] = mapped_column(JSON, default=list)
    cert_nos: Mapped[list[str]] = mapped_column(JSON, default=list)
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)
    source_url: Mapped[str] = mapped_column(String(500))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    published_by: Mapped[str] = mapped_column(String(32))
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class AlertDelivery(Base):
    """One recipient of one alert, recorded in the transaction that queued their message."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        UniqueConstraint("alert_id", "channel", "sender_id", name="uq_alert_deliveries"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"))
    channel: Mapped[str] = mapped_column(String(16))
    sender_id: Mapped[str] = mapped_column(String(128))
    # The outbox row's key (None on the web chat, whose page fetches the transcript).
    outbox_key: Mapped[str | None] = mapped_column(String(128), index=True)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime)


# ---- subscriptions (the pipeline's appliers) -------------------------------------------------
def _mine(session: Session, filer: Filer) -> list[AlertSubscription]:
    stmt = (
        select(AlertSubscription)
        .where(
            AlertSubscription.channel == filer.channel,
            AlertSubscription.sender_id == filer.sender_id,
        )
        .order_by(AlertSubscription.id)
    )
    return list(session.execute(stmt).scalars())


def _topics(rows: Sequence[AlertSubscription]) -> tuple[Topic, ...]:
    return tuple(Topic(r.kind, r.value) for r in rows)


def apply(session: Session, filer: Filer, action: Any) -> Subscriptions:
    """``Subscribe``, ``Unsubscribe``, ``ListSubscriptions`` or ``ConsentToAlerts`` in the
    turn's transaction."""
    rows = _mine(session, filer)
    current = _topics(rows)
    asked = filer.channel in consents.ASKED_ON
    consent = consents.given(session, filer.channel, filer.sender_id) if asked else None
    match action:
        case ConsentToAlerts(agree=agree):
            if not asked:
                return Subscriptions(current)
            if agree:
                consents.grant(session, filer.channel, filer.sender_id, filer.now)
            else:
                consents.withdraw(session, filer.channel, filer.sender_id)
            return Subscriptions(current, consent=agree)
        case ListSubscriptions():
            return Subscriptions(current, consent=consent)
        case Subscribe(topic=topic):
            if topic in current or len(rows) >= MAX_SUBSCRIPTIONS:
                return Subscriptions(current, consent=consent)
            row = AlertSubscription(
                channel=filer.channel,
                sender_id=filer.sender_id,
                kind=topic.kind,
                value=topic.value,
                lang=action.lang,
                created_at=filer.now,
            )
            session.add(row)
            session.flush()
            return Subscriptions((*current, topic), (topic,), consent)
        case Unsubscribe(which=which):
            if which is None:
                gone = rows
            elif 1 <= which <= len(rows):
                gone = [rows[which - 1]]
            else:
                return Subscriptions(current)
            for row in gone:
                session.delete(row)
            session.flush()
            left = [r for r in rows if r not in gone]
            return Subscriptions(_topics(left), _topics(gone))
    raise TypeError(f"no applier for {action!r}")


# ---- publishing -------------------------------------------------------------------------------
LIMITS = {"title_zh": 60, "title_en": 160, "text_zh": 1000, "text_en": 2400}
MAX_ITEMS = 30
CERT_NO = re.compile(r"[0-9A-Za-z]{6,32}")
URL = re.compile(r"https?://[^\s<>\"]{3,490}")
SPLIT = re.compile(r"[,，、;；\n]+")


class AlertRefused(ValueError):
    """A draft that cannot be published, with the reason in Chinese for staff."""


def _items(text: str) -> list[str]:
    out: list[str] = []
    for item in SPLIT.split(text):
        item = item.strip()
        if item and item not in out:
            out.append(item)
    return out


@dataclass(frozen=True)
class Draft:
    """An alert as typed in the console (lists as comma- or line-separated text)."""

    category: str
    title_zh: str
    title_en: str
    text_zh: str
    text_en: str
    brands: str = ""
    cert_nos: str = ""
    regions: str = ""
    source_url: str = ""
    valid_from: str = ""
    valid_until: str = ""

    def checked(self) -> dict[str, Any]:
        """The alert's columns; AlertRefused names the first problem."""
        if self.category.strip() not in typical_cases.categories():
            raise AlertRefused(f"没有这个类别：{self.category.strip() or '（空）'}")
        out: dict[str, Any] = {"category": self.category.strip()}
        for name, limit in LIMITS.items():
            value = getattr(self, name).strip()
            if not value:
                raise AlertRefused(f"{_LABELS[name]}不能为空")
            if len(value) > limit:
                raise AlertRefused(f"{_LABELS[name]}最多 {limit} 个字符")
            for kind, pattern in typical_cases.PERSONAL.items():
                if kind != "case_number" and pattern.search(value):
                    raise AlertRefused(f"{_LABELS[name]}里像是有个人信息：请先去除")
            out[name] = value
        brands = _items(self.brands)
        if any(len(b) > 30 for b in brands) or len(brands) > MAX_ITEMS:
            raise AlertRefused(f"品牌最多 {MAX_ITEMS} 个，每个最多 30 个字符")
        certs = [c.upper() for c in _items(self.cert_nos)]
        bad = next((c for c in certs if not CERT_NO.fullmatch(c)), None)
        if bad is not None or len(certs) > MAX_ITEMS:
            raise AlertRefused(f"证书编号应为 6 到 32 位字母和数字：{(bad or '')[:40]}")
        regions = _items(self.regions)
        known = catalogue().regions
        wrong = next(
            (r for r in regions if r.removesuffix("省").removesuffix("市") not in known), None
        )
        if wrong is not None:
            raise AlertRefused(f"没有这个地区：{wrong[:20]}（写省级名称，如 广东、上海）")
        regions = [known[r.removesuffix("省").removesuffix("市")] for r in regions]
        url = self.source_url.strip()
        if not URL.fullmatch(url):
            raise AlertRefused("来源链接应以 http:// 或 https:// 开头")
        try:
            start = date.fromisoformat(self.valid_from.strip())
            until = date.fromisoformat(self.valid_until.strip())
        except ValueError:
            raise AlertRefused("有效期请填写日期（如 2026-12-01）") from None
        if until < start:
            raise AlertRefused("有效期的结束日期早于开始日期")
        out.update(
            brands=brands,
            cert_nos=certs,
            regions=regions,
            source_url=url,
            valid_from=start,
            valid_until=until,
        )
        return out


_LABELS = {
    "title_zh": "中文标题",
    "title_en": "英文标题",
    "text_zh": "中文内容",
    "text_en": "英文内容",
}


def publish(session: Session | AsyncSession, draft: Draft, *, by: str, now: datetime) -> AlertRow:
    """Add the checked draft as published now (in the caller's transaction)."""
    row = AlertRow(**draft.checked(), published_at=now, published_by=by, recipients=0)
    session.add(row)
    return row


# ---- fan-out ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Recipient:
    channel: str
    sender_id: str
    conversation_id: int
    lang: str


def recipients(session: Session, alert: AlertRow) -> list[Recipient]:
    """Everyone the alert concerns, each once, in a fixed order (a resumed fan-out walks the
    same list): subscribers of its topics, then senders of cases naming its brands or
    certificate numbers. Only senders with a conversation (an address) are reached."""
    brands = {b.casefold() for b in alert.brands}
    topics = [(AlertSubscription.kind == "category") & (AlertSubscription.value == alert.category)]
    if alert.regions:
        topics.append(
            (AlertSubscription.kind == "region") & AlertSubscription.value.in_(alert.regions)
        )
    found: dict[tuple[str, str], str | None] = {}
    stmt = (
        select(
            AlertSubscription.channel,
            AlertSubscription.sender_id,
            AlertSubscription.kind,
            AlertSubscription.value,
            AlertSubscription.lang,
        )
        .where(or_(*topics, AlertSubscription.kind == "brand"))
        .order_by(AlertSubscription.id)
    )
    for channel, sender, kind, value, lang in session.execute(stmt):
        if kind != "brand" or value.casefold() in brands:
            found.setdefault((channel, sender), lang)
    certs = [c.casefold() for c in alert.cert_nos]
    if brands or certs:
        cases = select(Case.channel, Case.sender_id, Case.plain_fields).order_by(Case.id)
        for channel, sender, fields in session.execute(cases):
            if _concerns(fields or {}, brands, certs):
                found.setdefault((channel, sender), None)
    out: list[Recipient] = []
    keys = list(found)
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        senders = {s for _, s in chunk}
        rows = session.execute(
            select(
                Conversation.id, Conversation.channel, Conversation.sender_id, Conversation.locale
            ).where(Conversation.sender_id.in_(senders))
        ).all()
        known = {(c, s): (i, loc) for i, c, s, loc in rows}
        for key in chunk:
            if key in known:
                conversation_id, locale = known[key]
                lang = found[key] or ("en" if str(locale).startswith("en") else "zh")
                out.append(Recipient(key[0], key[1], conversation_id, lang))
    return out


def _concerns(fields: dict[str, Any], brands: set[str], certs: list[str]) -> bool:
    brand = fields.get("brand")
    if isinstance(brand, str) and brand.strip().casefold() in brands:
        return True
    if not certs:
        return False
    for value in fields.values():
        if isinstance(value, str) and len(value) <= 4000:
            folded = value.casefold()
            if any(c in folded for c in certs):
                return True
    return False


def message(alert: AlertRow, lang: str) -> str:
    title = alert.title_en if lang == "en" else alert.title_zh
    text = alert.text_en if lang == "en" else alert.text_zh
    names = [*alert.brands, *alert.cert_nos]
    if lang == "en":
        en = catalogue().region_en
        names += [en.get(r, r).title() for r in alert.regions]
    else:
        names += alert.regions
    values = {
        "title": title,
        "text": text,
        "until": alert.valid_until.isoformat(),
        "source": alert.source_url,
    }
    if names:
        joiner = ", " if lang == "en" else "、"
        return t(lang, "alerts.message", concerns=joiner.join(names), **values)
    return t(lang, "alerts.message_plain", **values)


# Rows per multi-row INSERT: 5 values a row stays far below SQLite's bound-parameter limit.
_ROWS_PER_STATEMENT = 500


def _send_batch(session: Session, alert_id: int, batch: Sequence[Recipient], now: datetime) -> int:
    """Record and queue each recipient not yet recorded; how many were new. A few statements
    for the whole batch, so the batch holds SQLite's write lock for a moment."""
    alert = session.get(AlertRow, alert_id)
    if alert is None:
        raise LookupError(f"no alert {alert_id}")
    source = f"alert.{alert_id}"
    recorded: set[tuple[str, str]] = set()
    for start in range(0, len(batch), _ROWS_PER_STATEMENT):
        part = batch[start : start + _ROWS_PER_STATEMENT]
        stmt = (
            upsert_into(session, AlertDelivery)
            .values(
                [
                    {
                        "alert_id": alert_id,
                        "channel": who.channel,
                        "sender_id": who.sender_id,
                        "outbox_key": None if who.channel == "rest" else _key(who, source),
                        "queued_at": now,
                    }
                    for who in part
                ]
            )
            .on_conflict_do_nothing(index_elements=["alert_id", "channel", "sender_id"])
            .returning(AlertDelivery.channel, AlertDelivery.sender_id)
        )
        recorded.update((channel, sender) for channel, sender in session.execute(stmt))
    # Who was recorded before (by an earlier run) was queued then too.
    new = [who for who in batch if (who.channel, who.sender_id) in recorded]
    texts = {lang: message(alert, lang) for lang in {who.lang for who in new}}
    push_all(
        session,
        [
            Push(
                channel=who.channel,
                recipient_id=who.sender_id,
                text=texts[who.lang],
                source=source,
                conversation_id=who.conversation_id,
                # What a WeChat subscription message shows, outside the 48-hour window.
                custom={
                    "alert": alert_id,
                    "title": alert.title_en if who.lang == "en" else alert.title_zh,
                    "until": alert.valid_until.isoformat(),
                    "source": alert.source_url,
                },
            )
            for who in new
        ],
        now=now,
    )
    return len(new)


def _key(who: Recipient, source: str) -> str:
    return outbox.Key(who.sender_id, source).spell(f"reply:{who.channel}")


@dataclass
class FanOut:
    """What one run of a fan-out did."""

    recipients: int = 0
    queued: int = 0
    batches: int = 0
    skipped: int = field(default=0)


async def fan_out(
    sessions: async_sessionmaker[AsyncSession],
    alert_id: int,
    *,
    now: Callable[[], datetime],
    batch: int = BATCH,
    after_batch: Callable[[FanOut], None] | None = None,
) -> FanOut:
    """Send the alert to everyone it concerns who has not had it yet, ``batch`` recipients
    per transaction; run again after an interruption, it sends only to the rest."""
    async with sessions() as session:
        alert = await session.get(AlertRow, alert_id)
        if alert is None:
            raise LookupError(f"no alert {alert_id}")
        everyone = await session.run_sync(lambda s: recipients(s, alert))
    done = FanOut(recipients=len(everyone))
    async with sessions() as session, session.begin():
        row = await session.get(AlertRow, alert_id)
        if row is not None:
            row.recipients = len(everyone)  # the console shows progress against it
    for start in range(0, len(everyone), batch):
        chunk = everyone[start : start + batch]
        async with sessions() as session, session.begin():
            new = await session.run_sync(_send_batch, alert_id, chunk, now())
        done.queued += new
        done.skipped += len(chunk) - new
        done.batches += 1
        if after_batch is not None:
            after_batch(done)
    async with sessions() as session, session.begin():
        row = await session.get(AlertRow, alert_id)
        if row is not None:
            row.recipients = len(everyone)
            row.finished_at = now()
    return done


@dataclass(frozen=True)
class Counts:
    """Deliveries of one alert in one state, per channel or in all: counts only, staff never
    see who an alert reached. ``sent`` on the web chat means put on the page's pushes."""

    queued: int = 0
    sent: int = 0
    failed: int = 0
    blocked: int = 0
    waiting: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.queued + other.queued,
            self.sent + other.sent,
            self.failed + other.failed,
            self.blocked + other.blocked,
            self.waiting + other.waiting,
        )


@dataclass(frozen=True)
class Progress(Counts):
    """An alert's deliveries in all channels, and per channel (``wechat``, ``telegram``,
    ``rest``: the web chat)."""

    channels: dict[str, Counts] = field(default_factory=dict)


async def progress(session: AsyncSession, alert_id: int) -> Progress:
    channels: dict[str, Counts] = {}
    # The web chat has no outbox row: its deliveries are on the transcript the page polls.
    kept = await session.execute(
        select(AlertDelivery.channel, func.count())
        .where(AlertDelivery.alert_id == alert_id, AlertDelivery.outbox_key.is_(None))
        .group_by(AlertDelivery.channel)
    )
    for channel, n in kept:
        channels[channel] = channels.get(channel, Counts()) + Counts(queued=n, sent=n)
    rows = await session.execute(
        select(AlertDelivery.channel, OutboxMessage.status, func.count())
        .join(OutboxMessage, AlertDelivery.outbox_key == OutboxMessage.key)
        .where(AlertDelivery.alert_id == alert_id)
        .group_by(AlertDelivery.channel, OutboxMessage.status)
    )
    for channel, status, n in rows:
        counts = Counts(
            queued=n,
            sent=n if status == "sent" else 0,
            failed=n if status == "failed" else 0,
            blocked=n if status == "blocked" else 0,
            waiting=n if status in ("pending", "sending") else 0,
        )
        channels[channel] = channels.get(channel, Counts()) + counts
    total = sum(channels.values(), Counts())
    return Progress(**vars(total), channels=dict(sorted(channels.items())))


async def unfinished(sessions: async_sessionmaker[AsyncSession]) -> list[int]:
    """Alerts whose fan-out has not gone through everyone (stopped by a restart). Read on a
    snapshot: on SQLite it must not wait for the write lock a long transaction may hold (a
    start-up job that waited past the busy timeout failed, and the fan-out was not resumed)."""
    stmt = select(AlertRow.id).where(AlertRow.finished_at.is_(None)).order_by(AlertRow.id)
    async with read_only(sessions)() as session:
        return list((await session.execute(stmt)).scalars())


async def send(
    sessions: async_sessionmaker[AsyncSession],
    alert_id: int,
    *,
    now: Callable[[], datetime],
    running: set[int],
    wake: Callable[[], None] | None = None,
) -> FanOut | None:
    """Run an alert's fan-out unless this process runs it already (``running``); the outbox
    is woken after each batch so delivery starts with the first. A failure is logged and
    leaves the alert unfinished, to be resumed (at the next start, or by a supervisor)."""
    if alert_id in running:
        return None
    running.add(alert_id)
    try:
        done = await fan_out(
            sessions, alert_id, now=now, after_batch=(lambda _: wake()) if wake else None
        )
        log.info("alert %s: %s recipients, %s queued", alert_id, done.recipients, done.queued)
        return done
    except Exception:
        log.exception("alert %s fan-out stopped", alert_id)
        return None
    finally:
        running.discard(alert_id)


async def resume(
    sessions: async_sessionmaker[AsyncSession],
    *,
    now: Callable[[], datetime],
    running: set[int],
    wake: Callable[[], None] | None = None,
) -> list[int]:
    """At start-up: finish every fan-out a restart interrupted; the recipients recorded
    before it are skipped, so nobody is lost and nobody gets an alert twice."""
    ids = await unfinished(sessions)
    for alert_id in ids:
        log.info("alert %s: resuming its fan-out", alert_id)
        await send(sessions, alert_id, now=now, running=running, wake=wake)
    return ids


async def listing(session: AsyncSession, limit: int = 50) -> list[tuple[AlertRow, Progress]]:
    rows = (
        await session.execute(select(AlertRow).order_by(AlertRow.id.desc()).limit(limit))
    ).scalars()
    return [(row, await progress(session, row.id)) for row in rows]
