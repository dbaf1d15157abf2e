"""The certificate registry port and the embedded adapter on the app's database.

No public CNCA API is known (FACTS §3), so the registry is replaceable: the embedded table
filled by the importer, or an HTTP service (``http_registry.HttpRegistry``).
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from dialogues.knowledge_port import Certificate, CertStatus
from integrations.ccc.models import CccCertificate


class RegistryUnavailable(Exception):
    """The registry could not answer (timeout, server error); not the same as "not found"."""


class CertificateRegistry(Protocol):
    async def get(self, cert_no: str) -> Certificate | None:
        """The record for a normalised number, None when the registry has no such number.

        Raises RegistryUnavailable when the registry cannot answer.
        """
        ...


def to_certificate(row: CccCertificate) -> Certificate:
    return Certificate(
        cert_no=row.cert_no,
        holder=row.holder,
        manufacturer=row.manufacturer,
        product=row.product,
        model=row.model,
        category_code=row.category_code,
        status=CertStatus(row.status),
        issued_on=row.issued_on,
        expires_on=row.expires_on,
        is_sample=row.is_sample,
    )


class EmbeddedRegistry:
    """Looks numbers up in the ``ccc_certificates`` table by primary key."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession] | AsyncEngine) -> None:
        if isinstance(sessions, AsyncEngine):
            sessions = async_sessionmaker(sessions, expire_on_commit=False)
        self._sessions = sessions

    @classmethod
    def for_reading(cls, url: str) -> tuple[EmbeddedRegistry, AsyncEngine]:
        """A registry on its own read-only engine; dispose the engine on shutdown.

        The app's SQLite engine opens every transaction with BEGIN IMMEDIATE to serialise
        writers, which would also serialise lookups; WAL lets plain readers run beside them.
        """
        if not url.startswith("sqlite"):
            engine = create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
            return cls(engine), engine
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_reader)
        return cls(engine), engine

    async def get(self, cert_no: str) -> Certificate | None:
        async with self._sessions() as session:
            row = await session.scalar(
                select(CccCertificate).where(CccCertificate.cert_no == cert_no)
            )
            return to_certificate(row) if row is not None else None


def _sqlite_reader(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
