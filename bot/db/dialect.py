"""Statements spelled differently by each database, for the repository's functions."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_for(dialect: str, table: Any) -> Any:
    """``INSERT … ON CONFLICT`` for ``table`` in the spelling of the database named ``dialect``."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"upsert not written for {dialect}")


def upsert_into(session: Session, table: Any) -> Any:
    """``INSERT … ON CONFLICT`` for ``table`` in the session's database's own spelling."""
    return insert_for(session.get_bind().dialect.name, table)
