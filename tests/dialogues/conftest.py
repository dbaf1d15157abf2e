"""Dialogue tests run on SQLite: what the bot says does not depend on the database.

The persistence these conversations touch (conversation state, cases, evidence, the hand-over
queue) is tested on PostgreSQL too in tests/bot, tests/integrations and tests/security; a
dialogue test whose answer rests on a query of its own asks for both databases with
``@pytest.mark.databases("sqlite", "postgres")``.
"""

from __future__ import annotations

import pytest

from tests.conftest import database_url


@pytest.fixture(params=["sqlite"])
def db_url(request: pytest.FixtureRequest) -> str:
    return database_url(request)
