"""What the back-office parts share at run time: settings, sessions, clock, HTTP, evidence."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.backoffice import Handoff
from bot.business.offices import Directory, load
from bot.evidence import EvidenceStore
from bot.settings import Settings


@dataclass
class BackofficeRuntime:
    """Built in the extension's lifespan and kept on ``app.state.backoffice``."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    evidence: EvidenceStore
    http: httpx.AsyncClient
    handoff: Handoff
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    outbox: Any = None
    # The office directory: where a case may be forwarded, and each office's hand-off URL.
    directory: Directory = field(default_factory=load)
    # Alerts whose fan-out runs in this process (bot.alerts.send), so one runs once.
    alert_runs: set[int] = field(default_factory=set)

    def now(self) -> datetime:
        return self.clock()

    def wake_outbox(self) -> None:
        if self.outbox is not None:
            self.outbox.wake()
