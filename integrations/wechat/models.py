"""WeChat's own tables: the access token and the callbacks' nonces, shared by every worker."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, UTCDateTime, utcnow


class WechatAccessToken(Base):
    """One row per AppID. WeChat invalidates older tokens when a new one is fetched, so
    workers must share one instead of each fetching its own."""

    __tablename__ = "wechat_access_tokens"

    app_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    access_token: Mapped[str] = mapped_column(Text, default="")
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WechatNonce(Base):
    """One row per signed callback (timestamp, nonce) seen within the replay window, so every
    worker refuses a replay; ``digest`` names the message so WeChat's own retries still pass."""

    __tablename__ = "wechat_nonces"
    __table_args__ = (Index("ix_wechat_nonces_seen_at", "seen_at"),)

    timestamp: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    deliveries: Mapped[int] = mapped_column(Integer, default=1)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
