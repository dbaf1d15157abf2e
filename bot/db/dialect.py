"""Statements spelled differently by each database, for the repository's functions."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def upsert_into(session: Session, table: Any) -> Any:
    """``INSERT … ON CONFLICT`` for ``table`` in the session's database's own spelling."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
