"""Certificate watchers: a sender who watches a CCC certificate in chat is told, once, each
time a registry import changes its status (suspended, revoked, cancelled, expired, valid).

A watch is an alert subscription of kind ``certificate`` (so "我的订阅" lists it and "退订"
drops it, ``bot/alerts.py``) and a ``certificate_watches`` row holding the status its watcher
last heard of. ``tell`` compares that status with the registry's and, in one transaction per
batch, queues the message (``bot.staff.push``: outbox row keyed ``watch.<number>.<n>`` and the
transcript) and records the new status. So an import that changes nothing tells nobody, an
import run again tells nobody twice, and an import stopped half-way is caught up by the next
``tell``, whatever the importer did before it stopped.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Index, Integer, String, UniqueConstraint, and_, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot import alerts
from bot.cases import Filer
from bot.db.base import Base, UTCDateTime
from bot.db.dialect import upsert_into
from bot.db.models import BigId
from bot.staff.push import push
from dialogues.actions import Subscribe, Subscriptions, Topic, WatchCertificate
from dialogues.texts import t
from dialogues.watch import status_label
from integrations.ccc.models import CccCertificate

# Watchers told per transaction.
BATCH = 500


class CertificateWatch(Base):
    """What one watcher of one certificate last heard of its status."""

    __tablename__ = "certificate_watches"
    __table_args__ = (
        UniqueConstraint("channel", "sender_id", "cert_no", name="uq_certificate_watches"),
        Index("ix_certificate_watches_cert_no", "cert_no"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    sender_id: Mapped[str] = mapped_column(String(128))
    cert_no: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))  # CertStatus value
    # Changes told so far (never reset: each message's outbox key is new).
    told: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


def apply(session: Session, filer: Filer, action: WatchCertificate) -> Subscriptions:
    """``WatchCertificate`` in the turn's transaction: the subscription, and the status the
    watcher was shown (a watch dropped and taken again starts from the status shown now)."""
    topic = Topic("certificate", action.cert_no)
    receipt = alerts.apply(session, filer, Subscribe(topic, action.lang))
    if receipt.changed:
        stmt = upsert_into(session, CertificateWatch).values(
            channel=filer.channel,
            sender_id=filer.sender_id,
            cert_no=action.cert_no,
            status=action.status,
            told=0,
            updated_at=filer.now,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["channel", "sender_id", "cert_no"],
            set_={"status": action.status, "updated_at": filer.now},
        )
        session.execute(stmt)
    return receipt


def _batch(session: Session, *, now: datetime, on: date, limit: int) -> int:
    """Tell up to ``limit`` watchers whose certificate's status changed; how many."""
    Sub = alerts.AlertSubscription
    stmt = (
        select(CertificateWatch, Sub.lang, CccCertificate.status, CccCertificate.product)
        .join(
            Sub,
            and_(
                Sub.kind == "certificate",
                Sub.channel == CertificateWatch.channel,
                Sub.sender_id == CertificateWatch.sender_id,
                Sub.value == CertificateWatch.cert_no,
            ),
        )
        .join(CccCertificate, CccCertificate.cert_no == CertificateWatch.cert_no)
        .where(CccCertificate.status != CertificateWatch.status)
        .order_by(CertificateWatch.id)
        .limit(limit)
    )
    rows = session.execute(stmt).all()
    for watch, lang, status, product in rows:
        watch.told += 1
        text = t(
            lang,
            "watch.changed",
            number=watch.cert_no,
            product=product or watch.cert_no,
            old=status_label(watch.status, lang),
            new=status_label(status, lang),
            on=on.isoformat(),
            meaning=t(lang, f"ccc.status.{status}"),
        )
        push(
            session,
            channel=watch.channel,
            recipient_id=watch.sender_id,
            text=text,
            source=f"watch.{watch.cert_no}.{watch.told}",
            now=now,
            # A warning like an alert: outside WeChat's 48-hour window it goes as a
            # subscription message to a user who agreed (integrations/wechat/outbound.py).
            custom={
                "certificate": watch.cert_no,
                "status": status,
                "warning": True,
                "title": t(
                    lang, "watch.title", number=watch.cert_no, new=status_label(status, lang)
                ),
                "until": on.isoformat(),
            },
        )
        watch.status = status
        watch.updated_at = now
    session.flush()
    return len(rows)


async def tell(engine: AsyncEngine, *, now: datetime, on: date, batch: int = BATCH) -> int:
    """After a registry import: tell every watcher whose certificate's status is not the one
    they last heard of, ``batch`` per transaction; how many were told."""
    sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
    told = 0
    while True:
        async with sessions() as session, session.begin():
            done = await session.run_sync(lambda s: _batch(s, now=now, on=on, limit=batch))
        told += done
        if done < batch:
            return told
